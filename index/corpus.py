"""Articles on disk: one UTF-8 Markdown file each, YAML front matter, then the body.

Loading never stops at the first problem: it reports every bad file with its path and what is
wrong, so an operator fixes a whole corpus in one pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
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

    @property
    def url(self) -> str:
        """The first source: the link a citizen is shown."""
        return self.sources[0] if self.sources else ""

    def fingerprint(self) -> str:
        """Changes whenever anything that reaches the index changes."""
        key = "\x1f".join([self.id, self.title, self.date.isoformat(), *self.sources, self.body])
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


def _as_tuple(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int)):
        return (str(value),)
    return tuple(str(v) for v in value)


def _text(meta: dict, key: str) -> str:
    """A field that must be one piece of text (YAML may give a list or a mapping instead)."""
    value = meta.get(key)
    if isinstance(value, (list, dict, set)):
        raise ValueError(
            f"{key} must be text, not a {'list' if isinstance(value, list) else 'mapping'}"
        )
    return str(value if value is not None else "").strip()


def parse_article(text: str, path: str = "") -> Article:
    """Validate one article; raises ValueError naming the first field that is wrong.

    A byte-order mark and Windows line ends, as some editors save files, are read as plain text.
    """
    meta, body = split_front_matter(text.removeprefix("\ufeff").replace("\r\n", "\n"))
    art_id = _text(meta, "id")
    if not _ID.match(art_id):
        raise ValueError(f"missing or bad id {art_id!r} (lowercase letters, digits, . _ -)")
    title = _text(meta, "title")
    if not title:
        raise ValueError("missing title")
    date = meta.get("date")
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date.strip())
        except ValueError:
            raise ValueError(f"bad date {date!r} (use YYYY-MM-DD)") from None
    if not isinstance(date, dt.date):
        raise ValueError("missing or bad date (use YYYY-MM-DD)")
    sources = _as_tuple(meta.get("sources"))
    if not sources:
        raise ValueError("no sources (list the URL of every fact)")
    bad = [s for s in sources if not _URL.match(s)]
    if bad:
        raise ValueError(f"source is not a URL: {bad[0]!r}")
    if not body.strip():
        raise ValueError("empty body")
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
        tags=_as_tuple(meta.get("tags")),
        lang=_text(meta, "lang") or "th",
        facts=_as_tuple(meta.get("facts")),
        path=path,
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
