"""First stage: dense (chunks and sentences) and lexical BM25, fused into N candidates."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from rag.index.lexical import LexicalIndex
from rag.index.store import Store, StoredChunk
from rag.ingest.split import embed_text
from rag.types import Candidate

log = logging.getLogger(__name__)


@dataclass
class FusionConfig:
    depth: int = 50
    dense: bool = True
    sentences: bool = True
    lexical: bool = True
    fusion: str = "rrf"  # rrf | weighted
    rrf_k: int = 60
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # dense, sentence, lexical
    bm25_k1: float = 0.9
    bm25_b: float = 0.4


@dataclass(frozen=True)
class LexicalSnapshot:
    """A BM25 index and the chunks its rows stand for, swapped together: a query holds one snapshot, so
    an ingest landing mid-query cannot pair one chunk's id with another's text."""

    index: LexicalIndex
    chunks: tuple[StoredChunk, ...]


class LexicalCache:
    """The BM25 index of a store, rebuilt when an ingest changed the collection (checked at most twice a second)."""

    def __init__(self, store: Store, *, k1: float, b: float, refresh_seconds: float = 0.5) -> None:
        self.store, self.k1, self.b, self.refresh = store, k1, b, refresh_seconds
        self._snapshot: LexicalSnapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def snapshot(self) -> LexicalSnapshot:
        with self._lock:
            now = time.monotonic()
            if self._snapshot is not None and now - self._checked < self.refresh:
                return self._snapshot
            fp = self.store.version()
            self._checked = now
            if self._snapshot is None or self._snapshot.index.fingerprint != fp:
                t0 = time.perf_counter()
                chunks = tuple(self.store.all_chunks())
                index = LexicalIndex([c.id for c in chunks], [embed_text(c.title, c.text) for c in chunks],
                                     k1=self.k1, b=self.b, fingerprint=fp)
                self._snapshot = LexicalSnapshot(index, chunks)
                log.info("lexical index rebuilt: %d chunks in %.2f s", len(chunks), time.perf_counter() - t0)
            return self._snapshot

    def get(self) -> LexicalIndex:
        return self.snapshot().index


def fuse(lists: list[list[str]], scores: list[dict[str, float]], cfg: FusionConfig) -> dict[str, float]:
    """Reciprocal-rank fusion, or a weighted sum of per-list max-normalised scores."""
    out: dict[str, float] = {}
    for w, ids, sc in zip(cfg.weights, lists, scores, strict=True):
        if not ids:
            continue
        if cfg.fusion == "rrf":
            for r, cid in enumerate(ids):
                out[cid] = out.get(cid, 0.0) + w / (cfg.rrf_k + r + 1)
        elif cfg.fusion == "weighted":
            vals = np.array([sc[c] for c in ids])
            lo, hi = float(vals.min()), float(vals.max())
            for cid in ids:
                out[cid] = out.get(cid, 0.0) + w * ((sc[cid] - lo) / (hi - lo) if hi > lo else 1.0)
        else:
            raise ValueError(f"unknown fusion {cfg.fusion!r}: choose rrf or weighted")
    return out


def first_stage(question: str, qvec: np.ndarray, store: Store, lexical: LexicalCache | None,
                cfg: FusionConfig, where: dict | None = None) -> list[Candidate]:
    found: dict[str, Candidate] = {}
    lists: list[list[str]] = [[], [], []]
    scores: list[dict[str, float]] = [{}, {}, {}]
    if cfg.dense:
        for rank, (c, sim) in enumerate(store.query(qvec, cfg.depth, where=where)):
            found[c.id] = Candidate(c.id, c.text, c.doc_id, c.source, c.title, c.start, c.end,
                                    scores={"dense": sim, "dense_rank": float(rank)})
            lists[0].append(c.id)
            scores[0][c.id] = sim
    if cfg.sentences:
        for cid, sim in store.query_sentences(qvec, cfg.depth * 2, where=where):
            if cid not in scores[1]:
                scores[1][cid] = sim
                lists[1].append(cid)
                if len(lists[1]) >= cfg.depth:
                    break
    if cfg.lexical and lexical is not None:
        snap = lexical.snapshot()
        index = snap.index
        mask = None
        if where:
            allowed = set(store.collection.get(where=where, include=[])["ids"])
            mask = np.array([1.0 if i in allowed else 0.0 for i in index.ids], dtype=np.float32)
        for rank, (row, sc) in enumerate(index.search(question, cfg.depth, allowed=mask)):
            cid = index.ids[row]
            lists[2].append(cid)
            scores[2][cid] = sc
            if cid not in found:
                chunk = snap.chunks[row]
                found[cid] = Candidate(chunk.id, chunk.text, chunk.doc_id, chunk.source, chunk.title, chunk.start,
                                       chunk.end)
            found[cid].scores.update({"lexical": sc, "lexical_rank": float(rank)})
    missing = [cid for cid in lists[1] if cid not in found]
    if missing:
        got = store.collection.get(ids=missing, include=["metadatas", "documents"])
        for cid, meta, doc in zip(got["ids"], got["metadatas"], got["documents"], strict=True):
            found[cid] = Candidate(cid, doc or "", str(meta.get("doc_id", "")), str(meta.get("source", "")),
                                   str(meta.get("title", "")), int(meta.get("start", 0)), int(meta.get("end", 0)))
    for r, cid in enumerate(lists[1]):
        found[cid].scores.update({"sentence": scores[1][cid], "sentence_rank": float(r)})
    fused = fuse(lists, scores, cfg)
    ranked = sorted(found.values(), key=lambda c: -fused.get(c.id, 0.0))[:cfg.depth]
    for cand in ranked:
        cand.scores["fused"] = fused.get(cand.id, 0.0)
        cand.score = cand.scores["fused"]
    return ranked
