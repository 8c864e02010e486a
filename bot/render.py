"""Answers as Telegram HTML: escaped, within Telegram's limits, with short callback data.

Everything that comes from the corpus or from a user goes through ``html.escape`` here and
nowhere else, so no other module has to think about markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from index import BE_OFFSET, Answer, Chunk, CorpusInfo, answer_line, thai_date

from . import texts

MESSAGE_LIMIT = 4096  # Telegram's limit, in UTF-16 code units of the message text
CALLBACK_LIMIT = 64  # bytes of callback_data
HEDGE_BELOW = 0.7  # confidence under which a found answer is worded as "the closest we have"

EXAMPLE, MORE, VOTE = "x", "m", "v"
UP, DOWN = "u", "d"
EXAMPLE_DATA = re.compile(rf"^{EXAMPLE}:\d{{1,2}}$")
MORE_DATA = re.compile(rf"^{MORE}:[\w-]{{1,16}}$")
VOTE_DATA = re.compile(rf"^{VOTE}:[\w-]{{1,16}}:[{UP}{DOWN}]$")


def esc(text: str) -> str:
    """Escape text for Telegram HTML (quotes too, so it is safe inside attributes)."""
    return html.escape(text, quote=True)


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------- dates and years


def years_text(years: Iterable[int]) -> str:
    """Christian-era years as Buddhist-era runs: (2017, 2018, 2019, 2021) → "2560–2562, 2564"."""
    runs: list[list[int]] = []
    for year in sorted(set(years)):
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    return ", ".join(
        f"{run[0] + BE_OFFSET}" if len(run) == 1 else f"{run[0] + BE_OFFSET}–{run[-1] + BE_OFFSET}"
        for run in runs
    )


# --------------------------------------------------------------------------- messages


def source_html(chunk: Chunk) -> str:
    """Title, date and the page that backs this passage (an overview shows when it was updated)."""
    date = f"{texts.UPDATED} {thai_date(chunk.updated)}" if chunk.updated else thai_date(chunk.date)
    return f"📰 {texts.SOURCE} {esc(chunk.title)}\n📅 {date}\n🔗 {esc(chunk.url)}"


def hit_html(chunk: Chunk) -> str:
    """A passage with where it comes from."""
    return f"<blockquote>{esc(chunk.text)}</blockquote>\n{source_html(chunk)}"


def year_notes(answer: Answer) -> tuple[str, ...]:
    """Which year "ล่าสุด"/"ปีนี้" was read as, when the question named one that way."""
    if answer.relative_year is None:
        return ()
    return (texts.RELATIVE_YEAR.format(year=answer.relative_year + BE_OFFSET),)


def notes_html(notes: Sequence[str]) -> str:
    return "\n".join(f"<i>ℹ️ {esc(note)}</i>" for note in notes)


def sentence_html(answer: Answer) -> str:
    """The sentence holding the short answer, the answer in bold, after the sentence (or title)
    it leans on, so it reads on its own."""
    s, a, b = answer.sentence, answer.span_start, answer.span_end
    marked = f"{esc(s[:a])}<b>{esc(s[a:b])}</b>{esc(s[b:])}"
    return f"{esc(answer.lead)} {marked}" if answer.lead else marked


def answer_html(answer: Answer, notes: Sequence[str] = ()) -> str:
    """The short answer (or the answering sentence) first, then its passage and source; only for
    found answers."""
    if not answer.found or not answer.hits:
        raise ValueError("answer_html needs a found answer; use not_found_html")
    top = answer.hits[0].chunk
    if answer.span:
        shown = answer.sentence.strip()
        head = f"<b>{esc(answer.span)}</b>\n\n{sentence_html(answer)}"
    else:
        shown = answer_line(answer)
        head = f"<b>{esc(shown)}</b>"
    if answer.confidence < HEDGE_BELOW:
        head += f"\n<i>({esc(texts.HEDGE)})</i>"
    body = hit_html(top) if answer.text.strip() != shown else source_html(top)
    return "\n\n".join(part for part in (head, body, notes_html(notes)) if part)


MORE_LINKS = 8  # an overview cites dozens of pages: a phone screen shows this many, then a count


def has_more(answer: Answer) -> bool:
    """Whether "more sources" has anything to show: other passages, or the answering
    article's pages beyond the one that backs the passage."""
    return len(answer.hits) > 1 or bool(answer.hits and answer.hits[0].chunk.more_sources)


def more_html(answer: Answer) -> str | None:
    """The answering article's other pages, then the passages after the first, each with its
    source; None when there is nothing more."""
    if not has_more(answer):
        return None
    parts = [f"<b>{esc(texts.MORE_TITLE)}</b>"]
    others = answer.hits[0].chunk.more_sources
    if others:
        links = "\n".join(f"🔗 {esc(url)}" for url in others[:MORE_LINKS])
        rest = len(others) - MORE_LINKS
        if rest > 0:
            links += "\n" + esc(texts.MORE_LINKS.format(count=rest))
        parts.append(f"{esc(texts.ARTICLE_SOURCES)}\n{links}")
    rest = answer.hits[1:]
    parts += [f"<b>{n}.</b>\n{hit_html(hit.chunk)}" for n, hit in enumerate(rest, start=1)]
    return "\n\n".join(parts)


# What Telegram would turn into a link in a user's words said back under the bot's name: web
# addresses (with or without a scheme), t.me links and @handles.
_LINKISH = re.compile(
    r"(?i)(?:[a-z][a-z0-9+.-]*://\S+|(?<![\w@])@\w{3,}|"
    r"\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}\b(?:[/?#]\S*)?)"
)
ECHO_CHARS = 200  # enough to recognise one's question, too little to post a message in it


def echo(text: str, limit: int = ECHO_CHARS) -> str:
    """A user's text as the bot may repeat it: without links and handles (phishing under a
    government bot's name), at most ``limit`` characters."""
    shown = " ".join(_LINKISH.sub("…", text).split())
    return shown if len(shown) <= limit else shown[:limit] + "…"


def not_found_html(question: str, notes: Sequence[str] = ()) -> str:
    text = texts.NOT_FOUND.format(question=esc(echo(question)))
    return "\n\n".join(part for part in (text, notes_html(notes)) if part)


def unknown_html(answer: Answer, notes: Sequence[str] = ()) -> str:
    """The sources say they do not know: their words, and the page where one would look."""
    top = answer.hits[0].chunk
    text = (
        f"{texts.UNKNOWN.format(question=esc(echo(answer.question)))}\n"
        f"<blockquote>{esc(answer.sentence)}</blockquote>\n"
        f"{esc(texts.UNKNOWN_LOOK)} 🔗 {esc(top.url)}"
    )
    return "\n\n".join(part for part in (text, notes_html(notes)) if part)


def start_html(info: CorpusInfo) -> str:
    return texts.START.format(articles=info.articles, years=years_text(info.years))


def help_html(username: str) -> str:
    return texts.HELP.format(username=esc(username))


def about_html(info: CorpusInfo) -> str:
    return texts.ABOUT.format(
        articles=info.articles,
        first=thai_date(info.first_date),
        last=thai_date(info.last_date),
        built=thai_date(info.built_at[:10]),
    )


def plain_text(markup: str) -> str:
    """What a Telegram-HTML message reads as without its formatting."""
    return html.unescape(re.sub(r"<[^>]*>", "", markup))


# --------------------------------------------------------------------------- splitting

_MARKUP = re.compile(r"<(/?)([A-Za-z][\w-]*)[^>]*>|&(?:#\d+|#x[0-9A-Fa-f]+|\w+);")


@dataclass(frozen=True)
class _Cut:
    pos: int
    priority: int  # 2 after a line break, 1 after a space (a Thai sentence end), 0 elsewhere
    open_tags: tuple[tuple[str, str], ...]  # (name, start tag) still open at pos


def _cuts(markup: str) -> list[_Cut]:
    """Every place a message may end: never inside a tag or an entity like ``&amp;``."""
    cuts, stack, i = [], [], 0
    while i < len(markup):
        token = _MARKUP.match(markup, i)
        if token is None:
            i += 1
        else:
            closing, name = token.group(1), token.group(2)
            if name and closing:
                if stack and stack[-1][0] == name.lower():
                    stack.pop()
            elif name:
                stack.append((name.lower(), token.group()))
            i = token.end()
        before = markup[i - 1]
        priority = 2 if before == "\n" else 1 if before.isspace() else 0
        cuts.append(_Cut(i, priority, tuple(stack)))
    return cuts


def split_html(markup: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut a message into parts of at most ``limit``, at line breaks or sentence ends if any.

    Tags open at a cut are closed at the end of one part and reopened at the start of the next,
    so every part is valid HTML on its own.
    """
    prefix = [0]
    for char in markup:
        prefix.append(prefix[-1] + utf16_len(char))
    cuts = _cuts(markup)
    parts: list[str] = []
    start, reopen = 0, ()
    while True:
        head = "".join(tag for _, tag in reopen)
        if utf16_len(head) + prefix[-1] - prefix[start] <= limit:
            parts.append(head + markup[start:])
            return [part for part in parts if plain_text(part).strip()]
        best: tuple[tuple[int, int], _Cut] | None = None
        for cut in cuts:
            if cut.pos <= start:
                continue
            closers = "".join(f"</{name}>" for name, _ in reversed(cut.open_tags))
            size = utf16_len(head + closers) + prefix[cut.pos] - prefix[start]
            if size > limit:
                break
            key = (cut.priority if size >= limit // 2 else -1, cut.pos)
            if best is None or key > best[0]:
                best = key, cut
        chosen = best[1] if best else next(c for c in cuts if c.pos > start)
        closers = "".join(f"</{name}>" for name, _ in reversed(chosen.open_tags))
        parts.append(head + markup[start : chosen.pos] + closers)
        start, reopen = chosen.pos, chosen.open_tags


# --------------------------------------------------------------------------- buttons


def callback_data(kind: str, *parts: str) -> str:
    data = ":".join((kind, *parts))
    if len(data.encode()) > CALLBACK_LIMIT:
        raise ValueError(f"callback data over {CALLBACK_LIMIT} bytes: {data!r}")
    return data


def examples_keyboard() -> InlineKeyboardMarkup:
    """The example questions; a button carries only its index, the question stays here."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(question, callback_data=callback_data(EXAMPLE, str(n)))]
            for n, question in enumerate(texts.EXAMPLES)
        ]
    )


def answer_keyboard(key: str, more: bool) -> InlineKeyboardMarkup:
    """👍/👎 and, while there are further passages to show, "more sources"."""
    votes = [
        InlineKeyboardButton("👍", callback_data=callback_data(VOTE, key, UP)),
        InlineKeyboardButton("👎", callback_data=callback_data(VOTE, key, DOWN)),
    ]
    rows = [[InlineKeyboardButton(texts.MORE_BUTTON, callback_data=callback_data(MORE, key))]]
    return InlineKeyboardMarkup([*rows, votes] if more else [votes])
