"""Thai text for matching: normalisation, word tokens and sentence spans.

Display text is never changed here: functions either return match keys (normalised strings,
tokens) or character spans into the text exactly as written, so offsets stay valid.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

from pythainlp.tokenize import word_tokenize
from pythainlp.util import dict_trie
from pythainlp.util import normalize as thai_normalize

from index.text.thaidate import BE_OFFSET, arabic_digits

# Zero-width and invisible characters that split words without showing anything.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
# Other spaces (no-break, thin, ideographic…) would otherwise stick to the word beside them.
_SPACES = {c: " " for c in (0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000)}
_WORD = re.compile(r"[\w\u0e00-\u0e7f]", re.UNICODE)
_EDGE_PUNCTUATION = "()[]{}<>\"'“”‘’«»/\\–—-,;:!?.…*"
_PARAGRAPH = re.compile(r"\n\s*\n|\n")
# Fallback sentence ends: Thai uses spaces between sentences; also ., ?, ! and ฯลฯ.
_FALLBACK_END = re.compile(r"(?<=[.!?])\s+|(?<=[\u0e00-\u0e7f])\s{1,}(?=[\u0e00-\u0e7f])")


def normalize(text: str) -> str:
    """Match key: NFC, no invisible characters, one kind of space, Thai digits as 0-9,
    pythainlp's vowel/tone fixes."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE).translate(_SPACES)
    text = arabic_digits(text)
    return thai_normalize(text)


@lru_cache(maxsize=1)
def _trie():
    """pythainlp's words edited by ``data/words.txt``: a line adds a word, ``-word`` removes one."""
    from pythainlp.corpus import thai_words

    lines = resources.files("index").joinpath("data/words.txt").read_text(encoding="utf-8")
    edits = [w.strip() for w in lines.splitlines() if w.strip() and not w.startswith("#")]
    removed = {w[1:] for w in edits if w.startswith("-")}
    added = {w for w in edits if not w.startswith("-")}
    return dict_trie((set(thai_words()) | added) - removed)


def warm_up() -> None:
    """Load the word list and the sentence splitter now (each takes about a second on first
    use), e.g. on a thread while the embedding model loads."""
    sentence_spans(" ".join(tokens("รางวัลรัฐบาลดิจิทัล ปี 2563")))


def canonical_year(token: str) -> str:
    """Write a plausible Buddhist-era year as its Christian-era twin, so 2563 matches 2020."""
    if len(token) == 4 and token.isdigit() and 2443 <= int(token) <= 2643:
        return str(int(token) - BE_OFFSET)
    return token


def tokens(text: str) -> list[str]:
    """Lexical tokens: newmm words of the match key, lower-cased, without spaces or punctuation.

    newmm keeps brackets, quotes, slashes and dashes on Latin words and numbers ("(DGA)",
    "/DBD)", "–2565"), and the abbreviation dot on "สพร."; stripped, they match how people type
    them ("DGA", "สพร", a year range's second year).
    """
    words = word_tokenize(
        normalize(text), custom_dict=_trie(), engine="newmm", keep_whitespace=False
    )
    stripped = (w.strip(_EDGE_PUNCTUATION) for w in words)
    return [canonical_year(w.lower()) for w in stripped if _WORD.search(w)]


def _crfcut(text: str) -> list[str] | None:
    try:
        from pythainlp.tokenize import sent_tokenize

        return sent_tokenize(text, engine="crfcut")
    except (ImportError, ModuleNotFoundError, OSError):
        return None


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence, never across a line break; crfcut, else a regex split."""
    spans: list[tuple[int, int]] = []
    start = 0
    for brk in [*_PARAGRAPH.finditer(text), None]:
        end = brk.start() if brk else len(text)
        spans += _split_line(text, start, end)
        start = brk.end() if brk else end
    return spans


_ABBREVIATION_END = re.compile(
    r"(?:^|[\s(])(?:[\u0e01-\u0e2e]{1,4}\.){1,3}$|(?:^|\s)[A-Za-z]{1,4}\.$"
)


def _glue(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Rejoin pieces the splitter cut inside parentheses or after an abbreviation.

    Thai separates sentences with a space, so "ปี 2563 (ค.ศ. 2020)" looks like two sentences to
    crfcut; a piece left with an open "(" or ending in "ค.ศ."/"สพร."/"ดร." continues.
    """
    out: list[tuple[int, int]] = []
    for span in spans:
        if out:
            prev = text[out[-1][0] : out[-1][1]]
            if prev.count("(") > prev.count(")") or _ABBREVIATION_END.search(prev):
                out[-1] = (out[-1][0], span[1])
                continue
        out.append(span)
    return out


def _split_line(text: str, start: int, end: int) -> list[tuple[int, int]]:
    line = text[start:end]
    if not line.strip():
        return []
    pieces = _crfcut(line)
    if pieces is None:
        pieces = _FALLBACK_END.split(line)
    spans, pos = [], 0
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        found = line.find(piece, pos)
        if found < 0:  # the splitter changed the text; keep the rest as one sentence
            break
        spans.append((start + found, start + found + len(piece)))
        pos = found + len(piece)
    rest = line[pos:].strip()
    if rest:
        offset = line.find(rest, pos)
        spans.append((start + offset, start + offset + len(rest)))
    return _glue(text, spans)
