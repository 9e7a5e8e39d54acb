"""What one row of the store holds: a chunk read back with its metadata, a source file's state, and the
metadata that keeps a chunk's token counts (Chroma keeps scalars only)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.types import Candidate, Chunk, TokenCounts


@dataclass
class SourceState:
    """What the collection holds for one source file."""

    ids: set[str] = field(default_factory=set)
    fingerprints: set[str] = field(default_factory=set)
    expected: int = -1  # chunks the file had when it was written

    def complete(self, fingerprint: str) -> bool:
        return self.fingerprints == {fingerprint} and len(self.ids) == self.expected


@dataclass(frozen=True)
class StoredChunk:
    id: str
    doc_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    counts: TokenCounts | None = None

    def candidate(self, scores: dict[str, float] | None = None) -> Candidate:
        """This chunk competing for a place in a context, with its first-stage ``scores``; the fused one,
        when there is one, is the score the next stage reads."""
        scores = dict(scores or {})
        return Candidate(self.id, self.text, self.doc_id, self.source, self.title, self.start, self.end,
                         score=scores.get("fused", 0.0), scores=scores, counts=self.counts)


def chunk_metas(chunks: list[Chunk], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"doc_id": c.doc_id, "source": c.source, "title": c.title, "index": c.index,
             "start": c.start, "end": c.end, "tokens": c.tokens, **x}
            for c, x in zip(chunks, extra, strict=True)]


def chunks_of(got: Any) -> list[StoredChunk]:
    """The chunks of one Chroma ``get`` result (ids, metadatas and documents)."""
    return [stored_chunk(cid, meta, doc)
            for cid, meta, doc in zip(got["ids"], got["metadatas"], got["documents"], strict=True)]


def stored_chunk(cid: str, meta: dict, doc: str | None) -> StoredChunk:
    return StoredChunk(id=cid, doc_id=str(meta.get("doc_id", "")), source=str(meta.get("source", "")),
                       title=str(meta.get("title", "")), text=doc or "",
                       start=int(meta.get("start", 0)), end=int(meta.get("end", 0)), counts=counts_of(meta))


def counts_meta(counts: TokenCounts) -> dict[str, Any]:
    """Chunk metadata holding ``counts`` (Chroma keeps scalars, so the sentences' counts are one string)."""
    return {"tokenizer": counts.tokenizer, "context_tokens": counts.text,
            "sentence_tokens": ",".join(map(str, counts.sentences))}


def counts_of(meta: dict) -> TokenCounts | None:
    """The counts ``counts_meta`` stored, or None for a chunk ingested before they were kept."""
    try:
        listed = str(meta["sentence_tokens"])
        return TokenCounts(str(meta["tokenizer"]), int(meta["context_tokens"]),
                           tuple(int(n) for n in listed.split(",")) if listed else ())
    except (KeyError, ValueError, TypeError):
        return None
