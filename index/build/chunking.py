"""Articles → short, sentence-aligned chunks that remember where they came from.

Short chunks of one to a few sentences keep unrelated items apart (mixing them measurably hurts
recall); windows overlap by a sentence so an answer split across a boundary is still whole in one.
Windows never cross a line break: in this corpus a paragraph is one topic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from index.corpus.articles import Article
from index.store.chunkfile import Chunk
from index.text import thai


@dataclass(frozen=True)
class ChunkParams:
    max_tokens: int = 64  # newmm words per window (e5 reads 512 subwords; this stays far below)
    overlap: int = 1  # sentences shared by consecutive windows
    max_chars: int = 1200  # hard cap for a "sentence" the splitter could not cut

    def as_dict(self) -> dict:
        return asdict(self)


def _cap(spans: list[tuple[int, int]], text: str, max_chars: int) -> list[tuple[int, int]]:
    """Cut over-long sentences at the last space before ``max_chars`` (or hard, if none)."""
    out = []
    for start, end in spans:
        while end - start > max_chars:
            cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
            cut = cut if cut > start else start + max_chars
            out.append((start, cut))
            start = cut + 1 if text[cut : cut + 1] == " " else cut
        if end > start:
            out.append((start, end))
    return out


def _paragraphs(spans: list[tuple[int, int]], text: str) -> list[list[tuple[int, int]]]:
    groups: list[list[tuple[int, int]]] = []
    for span in spans:
        if groups and "\n" not in text[groups[-1][-1][1] : span[0]]:
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups


def _windows(sizes: list[int], params: ChunkParams) -> list[tuple[int, int]]:
    """Sentence index ranges ``[i, j)`` covering all sentences, each within the token budget."""
    out, i, n = [], 0, len(sizes)
    while i < n:
        j, total = i + 1, sizes[i]
        while j < n and total + sizes[j] <= params.max_tokens:
            total += sizes[j]
            j += 1
        out.append((i, j))
        if j >= n:
            break
        i = max(i + 1, j - params.overlap)
    return out


def make_chunk(article: Article, n: int, start: int, end: int) -> Chunk:
    """Chunk ``n`` of ``article``: the span ``body[start:end]`` with where it came from."""
    sources = article.sources_at(start)
    return Chunk(
        id=f"{article.id}#{n}",
        article_id=article.id,
        title=article.title,
        date=article.date.isoformat(),
        url=sources[0] if sources else "",
        text=article.body[start:end],
        start=start,
        end=end,
        sources=sources,
        more_sources=tuple(url for url in article.sources if url not in sources),
        updated=article.updated.isoformat() if article.updated else "",
    )


def chunk_article(article: Article, params: ChunkParams = ChunkParams()) -> list[Chunk]:
    body = article.body
    spans = _cap(thai.sentence_spans(body), body, params.max_chars)
    chunks: list[Chunk] = []
    for para in _paragraphs(spans, body):
        sizes = [max(1, len(thai.tokens(body[a:b]))) for a, b in para]
        for i, j in _windows(sizes, params):
            chunks.append(make_chunk(article, len(chunks), para[i][0], para[j - 1][1]))
    return chunks
