"""Articles on disk: one UTF-8 Markdown file each, YAML front matter, then the body.

Every paragraph ends with the sources that back it, as a person editing Markdown writes a
footnote: ``… ครั้งแรกในปี 2562 [1]`` or ``… [2, 4]``, numbers into the front matter's ``sources``
(1 is the first). The markers leave the body when it is read, so a passage is shown and embedded
without them, and each paragraph keeps its sources: the link a citizen is shown is the page that
backs the passage, not the article's first page.

Loading never stops at the first problem: it reports every bad file with its path and what is
wrong, so an operator fixes a whole corpus in one pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml


class _Loader(yaml.SafeLoader):
    """Safe YAML that leaves dates as text, so a bad date is reported as such, not as a crash."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # tab, newlines and form feed are text
# "… [2, 4]" ending a paragraph: the sources (numbered from 1) that back it
_MARKER = re.compile(r"[ \t]*\[(\d+(?:[ \t]*,[ \t]*\d+)*)\][ \t]*$")


@dataclass(frozen=True)
class Cite:
    """One paragraph's sources: where it starts in the body, its line in the file (for messages)
    and the 0-based indexes into ``Article.sources`` its marker gave (empty: no marker)."""

    start: int
    line: int = field(compare=False)  # where it was read; an equal article may be laid out anew
    sources: tuple[int, ...] = ()


@dataclass(frozen=True)
class Article:
    """One corpus article. ``body`` is exactly as written; offsets elsewhere point into it."""

    id: str
    title: str
    date: dt.date
    sources: tuple[str, ...]
    body: str
    agency: str = ""
    tags: tuple[str, ...] = ()
    lang: str = "th"
    facts: tuple[str, ...] = ()
    path: str = ""
    cites: tuple[Cite, ...] = ()  # one per paragraph, in order; none for an article built in code
    updated: dt.date | None = None  # an overview's newest fact: shown instead of ``date``

    @property
    def url(self) -> str:
        """The first source: the article's main page."""
        return self.sources[0] if self.sources else ""

    def sources_at(self, offset: int) -> tuple[str, ...]:
        """The URLs backing the paragraph that holds ``body[offset]``: its marker's sources, or
        all of the article's when the paragraph has no marker."""
        cite = None
        for candidate in self.cites:
            if candidate.start > offset:
                break
            cite = candidate
        if cite is None or not cite.sources:
            return self.sources
        return tuple(self.sources[i] for i in cite.sources)

    def fingerprint(self) -> str:
        """Changes whenever anything that reaches the index changes."""
        cites = [",".join(map(str, c.sources)) for c in self.cites]
        updated = self.updated.isoformat() if self.updated else ""
        key = "\x1f".join(
            [self.id, self.title, self.date.isoformat(), updated, *self.sources, self.body, *cites]
        )
        return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class CorpusError(ValueError):
    """The corpus has bad files; ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "; ".join(map(str, problems[:3]))
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"{len(problems)} bad corpus file(s): {shown}{more}")


def split_front_matter(text: str) -> tuple[dict, str]:
    """``---`` YAML ``---`` then body; raises ValueError with a readable reason."""
    if not text.startswith("---"):
        raise ValueError("no front matter (the file must start with a '---' line)")
    parts = re.split(r"^---[ \t]*$\n?", text, maxsplit=2, flags=re.MULTILINE)
    if len(parts) < 3:
        raise ValueError("front matter is not closed by a '---' line")
    try:
        meta = yaml.load(parts[1], Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ValueError(f"front matter is not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(meta, dict):
        raise ValueError("front matter must be a YAML mapping of fields")
    return meta, parts[2].strip("\n")


def _as_tuple(meta: dict, key: str) -> tuple[str, ...]:
    """A list field of plain items (text, numbers). A nested list or mapping is refused: YAML
    aliases can make a few hundred bytes of them into megabytes of text once printed."""
    value = meta.get(key)
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, (list, dict, set)):
            raise ValueError(f"{key} must list plain text items, not nested lists or mappings")
    return tuple(str(v) for v in items)


def _text(meta: dict, key: str) -> str:
    """A field that must be one piece of text (YAML may give a list or a mapping instead)."""
    value = meta.get(key)
    if isinstance(value, (list, dict, set)):
        raise ValueError(
            f"{key} must be text, not a {'list' if isinstance(value, list) else 'mapping'}"
        )
    return str(value if value is not None else "").strip()


def _date(meta: dict, key: str) -> dt.date | None:
    """An ISO date field (YAML may have read it as a date already); None when absent."""
    value = meta.get(key)
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"bad {key} {value!r} (use YYYY-MM-DD)") from None
    if value is not None and not isinstance(value, dt.date):
        raise ValueError(f"bad {key} (use YYYY-MM-DD)")
    return value


def _paragraphs(lines: list[str]) -> Iterator[tuple[int, int]]:
    """The first and last line of each paragraph: a run of non-blank lines."""
    first = None
    for n, line in enumerate(lines):
        if first is None and line.strip():
            first = n
        if first is not None and (n + 1 == len(lines) or not lines[n + 1].strip()):
            yield first, n
            first = None


def _line_starts(lines: list[str]) -> list[int]:
    """Where each line starts in the text the lines were split from."""
    return list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))


def read_markers(body: str, first_line: int, n_sources: int) -> tuple[str, tuple[Cite, ...]]:
    """The body without its paragraphs' source markers, and each paragraph's ``Cite``.

    A paragraph is a run of non-blank lines; its marker ends its last line. A heading (``#``)
    is not a paragraph. A marker naming a source the article does not list raises ValueError
    with its line."""
    lines = body.split("\n")
    found: list[tuple[int, tuple[int, ...]]] = []  # (first line, source indexes) per paragraph
    for first, last in _paragraphs(lines):
        marker = _MARKER.search(lines[last])
        numbers: tuple[int, ...] = ()
        if marker:
            numbers = tuple(int(x) for x in re.findall(r"\d+", marker.group(1)))
            wrong = [x for x in numbers if not 1 <= x <= n_sources]
            if wrong:
                raise ValueError(
                    f"line {first_line + last}: source marker [{wrong[0]}] points nowhere "
                    f"(the article lists {n_sources} source(s))"
                )
            lines[last] = lines[last][: marker.start()]
        if not lines[first].startswith("#"):
            found.append((first, tuple(x - 1 for x in numbers)))
    starts = _line_starts(lines)  # of the body without its markers
    cites = tuple(Cite(starts[first], first_line + first, sources) for first, sources in found)
    return "\n".join(lines), cites


def marked_body(article: Article) -> str:
    """The body as a corpus file holds it: each paragraph ending with its source marker (every
    source, for an article built in code without markers: a page taken whole backs all of it)."""
    every = tuple(range(len(article.sources)))
    cited = {cite.start: cite.sources for cite in article.cites}
    lines = article.body.split("\n")
    starts = _line_starts(lines)
    for first, last in _paragraphs(lines):
        if lines[first].startswith("#"):
            continue
        sources = cited.get(starts[first], every) if article.cites else every
        if sources:
            lines[last] += " [" + ", ".join(str(i + 1) for i in sources) + "]"
    return "\n".join(lines)


def with_cites(article: Article) -> Article:
    """``article`` with its paragraphs' ``Cite`` as its corpus file gives them (``marked_body``:
    every source on every paragraph, for an article built in code), without writing the file."""
    body, cites = read_markers(marked_body(article), 1, len(article.sources))
    return replace(article, body=body, cites=cites)


def parse_article(text: str, path: str = "") -> Article:
    """Validate one article; raises ValueError naming the first field that is wrong.

    A byte-order mark and Windows line ends, as some editors save files, are read as plain text.
    """
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    meta, body = split_front_matter(text)
    art_id = _text(meta, "id")
    if not _ID.match(art_id):
        raise ValueError(f"missing or bad id {art_id!r} (lowercase letters, digits, . _ -)")
    title = _text(meta, "title")
    if not title:
        raise ValueError("missing title")
    date = _date(meta, "date")
    if date is None:
        raise ValueError("missing or bad date (use YYYY-MM-DD)")
    sources = _as_tuple(meta, "sources")
    if not sources:
        raise ValueError("no sources (list the URL of every fact)")
    bad = [s for s in sources if not _URL.match(s)]
    if bad:
        raise ValueError(f"source is not a URL: {bad[0]!r}")
    if not body.strip():
        raise ValueError("empty body")
    first_line = text.count("\n", 0, len(text.rstrip("\n")) - len(body)) + 1
    body, cites = read_markers(body, first_line, len(sources))
    control = _CONTROL.search(body)
    if control:
        raise ValueError(
            f"body contains binary data (control character {control.group()!r} "
            f"at character {control.start()})"
        )
    return Article(
        id=art_id,
        title=title,
        date=date,
        sources=sources,
        body=body,
        agency=_text(meta, "agency"),
        tags=_as_tuple(meta, "tags"),
        lang=_text(meta, "lang") or "th",
        facts=_as_tuple(meta, "facts"),
        path=path,
        cites=cites,
        updated=_date(meta, "updated"),
    )


def load_corpus(folder: Path) -> LoadResult:
    """Read every ``*.md`` under ``folder`` (sorted, so builds are reproducible)."""
    folder = Path(folder)
    result = LoadResult()
    if not folder.is_dir():
        result.problems.append(Problem(str(folder), "corpus folder not found"))
        return result
    seen: dict[str, str] = {}
    for path in sorted(folder.rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        try:
            text = path.read_bytes().decode("utf-8")
            article = parse_article(text, str(path))
        except UnicodeDecodeError:
            result.problems.append(Problem(str(path), "not UTF-8 text"))
            continue
        except ValueError as exc:
            result.problems.append(Problem(str(path), str(exc)))
            continue
        if article.id in seen:
            result.problems.append(
                Problem(str(path), f"duplicate id {article.id!r} (also in {seen[article.id]})")
            )
            continue
        seen[article.id] = str(path)
        result.articles.append(article)
    if not result.articles and not result.problems:
        result.problems.append(Problem(str(folder), "no articles (*.md) in the corpus folder"))
    return result


def corpus_hash(articles: list[Article]) -> str:
    digest = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.id):
        digest.update(article.fingerprint().encode())
    return digest.hexdigest()
