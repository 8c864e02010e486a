"""An index's chunks, read from ``chunks.jsonl`` only when one is asked for.

``Chunk``, the passage an index holds, is defined here, at the bottom of the flow: the build
makes chunks, the store keeps them and search returns them, and none of those need the other.

A full thaigov index holds about 440,000 chunks; turning every line into a ``Chunk`` when the
bot starts took 5 s and 570 MB (BENCHMARKS.md, "Full size"), while a question reads a few
hundred. The file is mapped into memory instead (the OS keeps the pages a question touched)
and one pass notes where each line starts, which article it belongs to and its date, reading
only the fields before the text. Mapping is safe because an index folder is never changed in
place: a build writes a new folder and swaps it in, and a replaced folder that is deleted stays
readable to whoever still maps it.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

# A line as ``line_of`` writes it starts with the id, article_id, title, date and url, each a
# JSON string. Inside a JSON string every quote is escaped, so the first ``", "date": "`` after
# the title's start is where the title ends, and so on.
_ID, _ARTICLE, _TITLE = b'{"id": "', b'", "article_id": "', b'", "title": "'
_DATE, _URL = b'", "date": "', b'", "url": "'
PARSED = 8192  # chunks kept parsed: a question's candidates, and the last questions' ones


@dataclass(frozen=True)
class Chunk:
    """A passage of an article; ``body[start:end] == text`` for the article it names.

    ``sources`` are the pages that back this passage (its paragraph's marker) and ``url`` the
    first of them, the link shown with it; ``more_sources`` are the article's other pages."""

    id: str
    article_id: str
    title: str
    date: str
    url: str
    text: str
    start: int
    end: int
    sources: tuple[str, ...] = ()
    more_sources: tuple[str, ...] = ()
    updated: str = ""  # an overview article's newest fact (ISO); shown instead of ``date``

    def embed_text(self) -> str:
        """The title travels with each chunk: a passage that never names its topic is found."""
        return f"{self.title}\n{self.text}"


class ChunkFileError(ValueError):
    """A line of ``chunks.jsonl`` is not a chunk of this index."""


def line_of(chunk: Chunk) -> str:
    """A chunk as one line of ``chunks.jsonl`` (the shape ``ChunkFile`` reads)."""
    return json.dumps(asdict(chunk), ensure_ascii=False) + "\n"


def chunk_of(line: str | bytes) -> Chunk:
    """The chunk a line of ``chunks.jsonl`` holds (the inverse of ``line_of``)."""
    fields = json.loads(line)
    for key in ("sources", "more_sources"):  # JSON has lists; a Chunk holds tuples
        fields[key] = tuple(fields.get(key, ()))
    return Chunk(**fields)


def _string(raw: bytes) -> str:
    """The text of a JSON string's inside, as written (escapes are rare: decode only then)."""
    return json.loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode("utf-8")


class ChunkFile(Sequence[Chunk]):
    """The chunks of one index in order; ``article_rows[i]`` is chunk i's row in the manifest's
    article order and ``dates`` the distinct dates of all chunks."""

    def __init__(self, path: Path, article_rows: Mapping[str, int]) -> None:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            self._data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        starts, rows, dates = [], [], set()
        at, last, row = 0, None, -1
        while at < size:
            end = self._data.find(b"\n", at)
            fields = self._head(at, end)
            if fields is None:
                raise ChunkFileError(f"{path}: line {len(starts) + 1} is not a chunk")
            raw, date = fields
            if raw != last:  # an article's chunks are consecutive: one lookup each
                last, row = raw, article_rows.get(_string(raw), -1)
                if row < 0:
                    raise ChunkFileError(f"{path}: chunk of an unknown article {_string(raw)!r}")
            starts.append(at)
            rows.append(row)
            dates.add(date)
            at = end + 1
        self._starts = np.array([*starts, size], dtype=np.int64)
        self.article_rows = np.array(rows, dtype=np.int64)
        self.dates = tuple(sorted(_string(d) for d in dates))
        self._parse = lru_cache(maxsize=PARSED)(self._parse_line)

    def _head(self, at: int, end: int) -> tuple[bytes, bytes] | None:
        """The raw article id and date of the line from ``at`` to ``end``; None if it has not
        the shape of a chunk."""
        data = self._data
        if end < 0 or data[at : at + len(_ID)] != _ID:
            return None
        article = data.find(_ARTICLE, at, end)
        title = data.find(_TITLE, article, end) if article >= 0 else -1
        date = data.find(_DATE, title, end) if title >= 0 else -1
        url = data.find(_URL, date, end) if date >= 0 else -1
        if url < 0:
            return None
        return data[article + len(_ARTICLE) : title], data[date + len(_DATE) : url]

    def __len__(self) -> int:
        return len(self._starts) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._parse(j) for j in range(*i.indices(len(self)))]
        return self._parse(range(len(self))[i])  # negative indexes, and IndexError past the end

    def _parse_line(self, i: int) -> Chunk:
        return chunk_of(self._data[self._starts[i] : self._starts[i + 1]])
