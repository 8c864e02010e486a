"""Raw articles (scraped text, thaigov.go.th files, HTML, JSONL) → corpus files.

Every input ends in one outcome per article, so a run over thousands of files can be read
afterwards: written, unchanged, replaced, conflict, duplicate or error. Ids come from the source
URL, so the same article ingested again, from any file or format, lands on the same corpus file and
is recognised instead of copied. Display text is kept as written; only site chrome and whitespace
noise go.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import re
import string
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from index.atomic import write_atomic
from index.corpus.articles import Article, marked_body, parse_article, with_cites
from index.progress import Progress
from index.text import thai
from index.text.thaidate import BE_OFFSET, THAI_MONTH_ABBREVIATIONS, THAI_MONTHS

FORMATS = ("auto", "text", "html", "thaigov", "jsonl")
TAGS = ("ingested",)

# "ม.ค.", "ม.ค", "มค." and "ม. ค." all occur; digits on both sides keep the loose form safe.
_ABBR_PATTERNS = [
    r"\.?\s?".join(map(re.escape, a.strip(".").split("."))) + r"\.?"
    for a in THAI_MONTH_ABBREVIATIONS
]
_MONTH_NUMBER = {m: n for n, m in enumerate(THAI_MONTHS, 1)} | {
    a.replace(".", ""): n for n, a in enumerate(THAI_MONTH_ABBREVIATIONS, 1)
}
_DATE = (
    r"(?<!\d)(?P<day>\d{1,2})\s*(?P<month>" + "|".join([*THAI_MONTHS, *_ABBR_PATTERNS]) + r")"
    r"\s*(?P<era>พ\.\s?ศ\.|ค\.\s?ศ\.)?\s*(?P<year>\d{4}|\d{2})(?!\d|[.:]\d)"
)
_DATE_RE = re.compile(_DATE)
_WEEKDAY = r"(?:วัน)?(?:จันทร์|อังคาร|พุธ|พฤหัสบดี|พฤหัส|ศุกร์|เสาร์|อาทิตย์)(?:ที่)?"
# A line that is only a date (a page's dateline), as opposed to a sentence that mentions one.
_DATE_LINE = re.compile(
    rf"^(?:{_WEEKDAY})?\s*(?:วันที่)?\s*{_DATE}(?:\s*(?:เวลา)?\s*\d{{1,2}}[:.]\d{{2}}(?:\s*น\.)?)?$"
)

_URL = re.compile(r"https?://[^\s<>\"'“”‘’()\[\]{}]+", re.IGNORECASE)
_URL_TAIL = ".,;:!?"
_SOURCE_LINE = re.compile(
    r"^(?:(?:แหล่ง)?ที่มา|อ้างอิง|source|url|link)?\s*:?\s*(https?://\S+)$", re.IGNORECASE
)
_THAIGOV_URL = re.compile(r"^https?://(?:www\.)?thaigov\.go\.th/news/contents/details/(\d+)")
_THAIGOV_HEAD = re.compile(r"^\s*รัฐบาลไทย-(?:ข่าวทำเนียบรัฐบาล-)?")
_EDGES = string.whitespace + "\u00a0\u2009\u3000\u200b\ufeff"  # incl. no-break, zero-width
_SPACES = re.compile(r"[ \t\u00a0]{2,}")
_HTML = re.compile(r"<(?:!doctype\s+html|html|head|body|article|p|div)[\s>]", re.IGNORECASE)
# Navigation, share buttons and widgets that scraped pages carry around the article.
_CHROME_WORDS = frozenset(
    {
        *("fbpx", "home", "หน้าแรก", "ข่าว", "news", "featured", "image", "อ่านต่อ"),
        *("share", "แชร์", "tweet", "print", "พิมพ์", "copy", "link", "คัดลอกลิงก์"),
        *("facebook", "twitter", "x", "line", "tiktok", "youtube", "instagram"),
    }
)
_CHROME_SEPARATORS = re.compile(r"[|›»>/•·*\-–]+")
_MAX_TITLE = 300


class Status(StrEnum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"
    REPLACED = "replaced"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"
    ERROR = "error"


@dataclass(frozen=True)
class Outcome:
    """What happened to one article (or to one input that yielded none)."""

    status: Status
    source: str
    target: str = ""
    message: str = ""

    def __str__(self) -> str:
        where = f"{self.target} ← {self.source}" if self.target else self.source
        return f"{self.status:<9} {where}" + (f": {self.message}" if self.message else "")


@dataclass
class IngestReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(o.status is status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        """No conflicts and no errors: the exit status a script can trust."""
        return not (self.count(Status.CONFLICT) or self.count(Status.ERROR))

    def lines(self) -> list[str]:
        """One line per outcome, then the counts."""
        counts = ", ".join(f"{self.count(s)} {s}" for s in Status)
        return [*map(str, self.outcomes), f"{len(self.outcomes)} article(s): {counts}"]


# ---- dates -------------------------------------------------------------------------------------


def parse_thai_date(text: str) -> dt.date | None:
    """The first real date written the Thai way in ``text``: full or abbreviated month, Thai or
    Arabic digits, Buddhist-era (2563, 63) or Christian-era year, with or without a weekday."""
    for m in _DATE_RE.finditer(thai.normalize(text)):
        found = _to_date(m)
        if found:
            return found
    return None


def _to_date(m: re.Match) -> dt.date | None:
    year = int(m["year"])
    christian = (m["era"] or "").startswith("ค")
    if len(m["year"]) == 2:
        year += 2000 if christian else 2500
    if year >= 2400 and not christian:
        year -= BE_OFFSET
    month = _MONTH_NUMBER[re.sub(r"[.\s]", "", m["month"])]
    try:
        return dt.date(year, month, int(m["day"])) if 1900 <= year <= 2100 else None
    except ValueError:  # 31 ก.พ. and the like: not a date, keep looking
        return None


def _dateline(line: str) -> dt.date | None:
    """The date of a line that is only a date (a page's dateline), not of a sentence naming one."""
    m = _DATE_LINE.match(thai.normalize(_clean(line)))
    return _to_date(m) if m else None


def _iso_or_thai_date(value: object) -> dt.date | None:
    """A record's or meta tag's date: ISO (``2020-12-03``, ``2020-12-03T18:30+07:00``) or Thai."""
    text = str(value or "").strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return parse_thai_date(text)


# ---- text clean-up -----------------------------------------------------------------------------


def _clean(line: str) -> str:
    """Whitespace noise only: edges (incl. zero-width), and runs of spaces inside the line."""
    return _SPACES.sub(" ", line.strip(_EDGES))


def _is_chrome(line: str) -> bool:
    """A line made only of navigation/share words and separators (``Home | ข่าว``, ``• Tiktok``)."""
    words = _CHROME_SEPARATORS.sub(" ", line).lower().split()
    return bool(line.strip()) and all(w in _CHROME_WORDS for w in words)


def _body(lines: Iterable[str], title: str) -> str:
    """Article text without chrome, without the headline repeated on top (whole, or cut before
    an agency tag such as ``[กระทรวงแรงงาน]``), one blank line at most between paragraphs."""
    kept: list[str] = []
    for line in map(_clean, lines):
        if _is_chrome(line) or (line and title.startswith(line) and not any(kept)):
            continue
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()


def _urls(text: str) -> list[str]:
    return [u.rstrip(_URL_TAIL) for u in _URL.findall(text)]


def _split_sources(lines: list[str]) -> tuple[list[str], list[str]]:
    """Lines that only give a (labelled) URL — ``ที่มา : https://…`` — become sources."""
    kept, sources = [], []
    for line in lines:
        m = _SOURCE_LINE.match(_clean(line))
        if m:
            sources.append(m[1].rstrip(_URL_TAIL))
        else:
            kept.append(line)
    return kept, sources


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


# ---- ids and articles --------------------------------------------------------------------------


def article_id(url: str, vouched: bool = True) -> str:
    """Stable id from the source URL: ``thaigov-24149`` for thaigov news, else ``web-`` and a
    hash of the URL without scheme, ``www.``, fragment or trailing slash (the same page however
    it was linked). A URL only the page itself declares (``vouched=False``) never gets the
    thaigov form: any page can claim to be a government one."""
    m = _THAIGOV_URL.match(url)
    if m and vouched:
        return f"thaigov-{m[1]}"
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removeprefix("www.")
    key = host + parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
    return "web-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def _article(
    title: str,
    found: dt.date | None,
    sources: Iterable[str],
    body: str,
    *,
    url: str,
    date: dt.date | None,
    vouched: bool = True,
) -> Article:
    """Check what every format must supply, naming everything missing at once; the caller's
    ``url`` and ``date`` fill gaps only. ``vouched`` is False when the first source is only what
    the page says of itself."""
    title = _clean(title)
    found = found or date
    urls = _unique(sources) or _unique([url])
    problems = [
        msg
        for missing, msg in [
            (not title, "no headline found"),
            (len(title) > _MAX_TITLE, f"a {len(title)}-character headline is a paragraph"),
            (found is None, "no date (pass one with --date)"),
            (not urls, "no source URL, so it cannot be cited (pass it with --url)"),
            (not body, "no article text"),
        ]
        if missing
    ]
    if problems:
        raise ValueError("; ".join(problems))
    # As it will be read back: each paragraph cites the page (and the origin it names).
    return with_cites(Article(article_id(urls[0], vouched), title, found, urls, body, tags=TAGS))


def render_article(article: Article) -> str:
    """The corpus file for ``article``; ``parse_article`` reads it back as an equal Article."""
    fields = [
        ("id", article.id),
        ("title", article.title),
        ("date", article.date),
        ("sources", list(article.sources)),
        ("agency", article.agency),
        ("tags", list(article.tags)),
        ("lang", article.lang),
        ("facts", list(article.facts)),
    ]
    front = "".join(_yaml_field(key, value) for key, value in fields if value)
    return f"---\n{front}---\n{marked_body(article)}\n"


def _yaml_field(key: str, value: object) -> str:
    """One front-matter line, laid out like the hand-written corpus: sources one per line,
    short lists (tags, facts) inline."""
    flow = None if key in ("tags", "facts") else False
    return yaml.safe_dump(
        {key: value}, allow_unicode=True, default_flow_style=flow, width=1000, sort_keys=False
    )


# ---- parsers -----------------------------------------------------------------------------------


def parse_text(text: str, *, url: str = "", date: dt.date | None = None) -> list[Article]:
    """A scraped page: chrome lines dropped, the first remaining line is the headline, the first
    Thai date is the date, every URL in the page is a source."""
    kept, sources = _split_sources([ln for ln in text.splitlines() if not _is_chrome(ln)])
    body = [ln for ln in kept if not _dateline(ln)]
    title = next((c for c in map(_clean, body) if c), "")
    page = "\n".join(kept)
    found = parse_thai_date(page)
    return [
        _article(title, found, [*sources, *_urls(page)], _body(body, title), url=url, date=date)
    ]


def parse_thaigov(text: str, *, url: str = "", date: dt.date | None = None) -> list[Article]:
    """A thaigov.go.th file: ``รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-`` headline, a Thai dateline, the body,
    ``ที่มา : URL``. The thaigov URL leads the sources (it gives the id); others cited follow."""
    first, _, rest = text.lstrip("\ufeff").partition("\n")
    if not _THAIGOV_HEAD.match(first):
        raise ValueError("not a thaigov.go.th file (first line lacks the 'รัฐบาลไทย-' headline)")
    title = _clean(_THAIGOV_HEAD.sub("", first))
    lines, sources = _split_sources(rest.splitlines())
    while lines and not _clean(lines[0]):
        lines.pop(0)
    found = _dateline(lines[0]) if lines else None
    if found:
        lines = lines[1:]
    sources.sort(key=lambda u: not _THAIGOV_URL.match(u))
    body = _body(lines, title)
    return [_article(title, found or parse_thai_date(title), sources, body, url=url, date=date)]


def parse_html(text: str, *, url: str = "", date: dt.date | None = None) -> list[Article]:
    """A web page: main text by trafilatura (no nav, header, footer, comments); title from
    og:title or <title>; date from article:published_time, else the first Thai date in the text;
    source from the canonical link or og:url."""
    import lxml.etree
    import lxml.html
    import trafilatura  # imported here: it costs ~0.4 s, and only HTML input needs it

    try:
        tree = lxml.html.fromstring(
            text.encode("utf-8"), parser=lxml.html.HTMLParser(encoding="utf-8")
        )
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ValueError(f"not readable HTML ({exc})") from None

    def first(xpath: str) -> str:
        return next(filter(None, map(_clean, tree.xpath(xpath))), "")

    title = first('//meta[@property="og:title"]/@content') or first("//title/text()")
    published = first(
        '//meta[@property="article:published_time" or @name="article:published_time"]/@content'
    )
    canonical = first('//link[@rel="canonical"]/@href')
    declared = canonical or first('//meta[@property="og:url"]/@content')
    main = trafilatura.extract(tree, include_comments=False, favor_precision=True) or ""
    if not main.strip():
        raise ValueError("no main text found in the HTML")
    found = _iso_or_thai_date(published) if published else parse_thai_date(main)
    body = _body(main.splitlines(), title)
    # The operator's --url is the page; what the page says of itself is kept only on its host.
    if url:
        same_host = urlsplit(declared).netloc.lower() == urlsplit(url).netloc.lower()
        sources = [url, declared] if declared and same_host else [url]
        return [_article(title, found, sources, body, url=url, date=date)]
    return [_article(title, found, [declared], body, url=url, date=date, vouched=False)]


def parse_jsonl(text: str, *, url: str = "", date: dt.date | None = None) -> list[Article]:
    """One article per line: ``{title, date, url, text}``, or a thaigov record whose ``text`` is
    the raw file. Raises ValueError naming the first bad line; ``ingest`` reports each instead."""
    articles = []
    for where, item in _jsonl_items(text, "line", url=url, date=date):
        if isinstance(item, str):
            raise ValueError(f"{where}: {item}")
        articles.append(item)
    return articles


def _jsonl_items(
    text: str, label: str, *, url: str, date: dt.date | None
) -> Iterable[tuple[str, Article | str]]:
    if text.lstrip("\ufeff \t\r\n").startswith("["):
        yield label, "a JSON array, not JSON Lines (one object a line)"
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            where = f"{label}:{number}"
            try:
                yield where, _record(line, url=url, date=date)
            except ValueError as exc:
                yield where, str(exc)


def _record(line: str, *, url: str, date: dt.date | None) -> Article:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    text = str(rec.get("text") or "")
    rec_url = str(rec.get("url") or "") or url
    rec_date = _iso_or_thai_date(rec.get("date")) or date
    if _THAIGOV_HEAD.match(text):
        return parse_thaigov(text, url=rec_url, date=rec_date)[0]
    title = _clean(str(rec.get("title") or ""))
    return _article(title, None, [], _body(text.splitlines(), title), url=rec_url, date=rec_date)


PARSERS: dict[str, Callable[..., list[Article]]] = {
    "text": parse_text,
    "thaigov": parse_thaigov,
    "html": parse_html,
    "jsonl": parse_jsonl,
}


def detect_format(path: Path, text: str) -> str:
    """By extension first (``.html``, ``.jsonl``, also gzipped), else by content."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in (".html", ".htm"):
        return "html"
    if suffixes and suffixes[-1] in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    head = text.lstrip("\ufeff \t\r\n")
    if _THAIGOV_HEAD.match(head):
        return "thaigov"
    if head[:1] in "{[":
        return "jsonl"
    return "html" if _HTML.search(head[:4096]) else "text"


# ---- reading and writing -----------------------------------------------------------------------


# The largest input read: the whole thaigov corpus (28,555 articles) is 275 MB unpacked, so a
# gigabyte leaves room to grow while a gzip bomb stops here instead of filling the memory.
MAX_INPUT_BYTES = 1 << 30


def _read_limited(path: Path) -> bytes:
    """The file's bytes (gunzipped if ``.gz``), refused once more than MAX_INPUT_BYTES."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        unpacked = " unpacked" if opener is gzip.open else ""
        raise ValueError(
            f"over {MAX_INPUT_BYTES >> 20:,} MiB{unpacked}: split it into smaller files"
        )
    return data


def _read_text(path: Path) -> str:
    """UTF-8 text of a file (gunzipped if ``.gz``); ValueError says why it is not usable."""
    if path.is_dir():
        raise ValueError("is a folder, not a file")
    try:
        data = _read_limited(path)
    except FileNotFoundError:
        raise ValueError("file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"cannot read it ({exc})") from None
    if b"\x00" in data:
        raise ValueError("binary file (NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise ValueError("empty file")
    return text


def _items(
    path: Path, fmt: str, *, url: str, date: dt.date | None
) -> tuple[int, Iterable[tuple[str, Article | str]]]:
    """Every article in one input, or the reason it has none; and how many to expect. A JSONL
    file's records are parsed as they are taken, so progress covers the parsing too."""
    try:
        text = _read_text(path)
    except ValueError as exc:
        return 1, [(str(path), str(exc))]
    kind = detect_format(path, text) if fmt == "auto" else fmt
    if kind == "jsonl":
        expected = sum(1 for line in text.splitlines() if line.strip())
        return expected, _jsonl_items(text, str(path), url=url, date=date)
    try:
        items = [(str(path), a) for a in PARSERS[kind](text, url=url, date=date)]
    except ValueError as exc:
        items = [(str(path), f"cannot parse as {kind}: {exc}")]
    return len(items), items


def _store(article: Article, source: str, out: Path, force: bool, seen: dict[str, str]) -> Outcome:
    text = render_article(article)
    try:
        parse_article(text)
    except ValueError as exc:
        return Outcome(Status.ERROR, source, message=f"would not be a valid corpus file: {exc}")
    target = out / f"{article.id}.md"
    if article.id in seen:
        return Outcome(Status.DUPLICATE, source, str(target), f"same article as {seen[article.id]}")
    seen[article.id] = source
    data = text.encode("utf-8")
    if target.exists():
        if target.read_bytes() == data:
            return Outcome(Status.UNCHANGED, source, str(target))
        if not force:
            return Outcome(
                Status.CONFLICT,
                source,
                str(target),
                "a different file with this id exists; not overwritten (use --force to replace it)",
            )
        write_atomic(target, lambda fh: fh.write(data))
        return Outcome(Status.REPLACED, source, str(target))
    write_atomic(target, lambda fh: fh.write(data))
    return Outcome(Status.WRITTEN, source, str(target))


def ingest(
    paths: Iterable[str | Path],
    fmt: str = "auto",
    out: Path = Path("corpus"),
    force: bool = False,
    *,
    url: str = "",
    date: dt.date | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Turn raw inputs into corpus files in ``out``; one outcome per article, never a stop.

    ``url`` and ``date`` are for a page that does not state its own address or date (the seed
    page names neither): they are used only where the input has none. ``progress`` reports
    each input's articles with a rate and an ETA (a news dump holds tens of thousands).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress = progress or Progress()
    report = IngestReport()
    seen: dict[str, str] = {}
    for path in map(Path, paths):
        expected, items = _items(path, fmt, url=url, date=date)
        stage = progress.stage(f"ingest {path.name}", expected, "articles")
        for source, item in items:
            if isinstance(item, str):
                report.outcomes.append(Outcome(Status.ERROR, source, message=item))
            else:
                report.outcomes.append(_store(item, source, out, force, seen))
            stage.advance()
    return report
