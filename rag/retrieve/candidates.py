"""First stage: dense (chunks and sentences) and lexical BM25, fused into N candidates."""
from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.index.lexical import LexicalIndex
from rag.index.mirror import VectorMirror
from rag.index.records import StoredChunk
from rag.index.store import Store
from rag.language import current
from rag.memo import give_back_memory
from rag.settings import Settings
from rag.text import embed_text, text_processing
from rag.types import Candidate

log = logging.getLogger(__name__)
FORMAT = 1  # of the saved BM25 index: a change to what is saved changes it, so old folders are not read


@dataclass
class FusionConfig:
    depth: int = 50
    dense: bool = True
    sentences: bool = True
    lexical: bool = True
    rrf_k: int = 60  # reciprocal rank fusion's usual constant
    bm25_k1: float = 0.9
    bm25_b: float = 0.4

    @classmethod
    def of(cls, s: Settings) -> FusionConfig:
        c = s.candidates
        return cls(depth=c.candidate_depth, dense=c.dense, sentences=c.sentence_search, lexical=c.lexical,
                   bm25_k1=c.bm25_k1, bm25_b=c.bm25_b)


@dataclass(frozen=True)
class LexicalSnapshot:
    """A BM25 index and the chunks its rows stand for, swapped together: a query holds one snapshot, so
    an ingest landing mid-query cannot pair one chunk's id with another's text."""

    index: LexicalIndex
    chunks: tuple[StoredChunk, ...]
    vectors: VectorMirror | None = None  # the same rows' vectors, when the store fits the memory ceiling


class LexicalCache:
    """The BM25 index of a store (and its vector mirror), rebuilt when an ingest changed the collection
    (checked at most twice a second).

    A store whose vectors fit ``mirror_mb`` is held whole: its chunks, their vectors and BM25. A larger one
    keeps only BM25 in this process, saved under the store's ``derived_dir`` for its version, so the next
    process maps it from disk instead of reading every chunk out of Chroma (at 1M chunks, minutes and
    gigabytes of Chroma's memory); its chunks are read by id as candidates need them."""

    def __init__(self, store: Store, *, k1: float, b: float, refresh_seconds: float = 0.5,
                 mirror_mb: float = 0.0) -> None:
        self.store, self.k1, self.b, self.refresh = store, k1, b, refresh_seconds
        self.mirror_bytes = mirror_mb * 1e6
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
                self._snapshot = self._read(fp)
                give_back_memory(force=True)  # reading the store leaves freed pages (10k chunks: 165 MB)
                log.info("lexical index ready: %d chunks in %.2f s", self._snapshot.index.n, time.perf_counter() - t0)
            return self._snapshot

    def _read(self, fp: str) -> LexicalSnapshot:
        if self.store.fits_mirror(self.mirror_bytes):
            listed, mirror = self.store.mirror(self.mirror_bytes)
            index = LexicalIndex([c.id for c in listed], [embed_text(c.title, c.text) for c in listed],
                                 k1=self.k1, b=self.b, fingerprint=fp)
            return LexicalSnapshot(index, tuple(listed), mirror)
        folder = self.saved_at(fp)
        if fp and (folder / "meta.json").exists():
            try:
                return LexicalSnapshot(LexicalIndex.load(folder), ())
            except (OSError, ValueError, KeyError):
                log.warning("the saved BM25 index in %s is unreadable: rebuilding it", folder, exc_info=True)
        ids, texts = self.store.lexical_texts()
        index = LexicalIndex(ids, texts, k1=self.k1, b=self.b, fingerprint=fp)
        del texts
        if not fp:  # a store without a version mark: a saved index could not tell when it went stale
            return LexicalSnapshot(index, ())
        try:
            index.save(folder)
            # the store's earlier versions go (a process still mapping one keeps its pages); other BM25
            # parameters' indexes of this version stay, for the pipelines that use them
            for old in folder.parent.iterdir():
                if not old.name.startswith((".", f"{fp}-")):
                    shutil.rmtree(old, ignore_errors=True)
        except OSError:
            log.warning("could not save the BM25 index to %s: the next process rebuilds it", folder, exc_info=True)
        return LexicalSnapshot(index, ())

    def saved_at(self, fp: str) -> Path:
        """The folder of the saved index for store version ``fp``: the version, BM25's parameters and how
        terms are made (language and stemmer) all name it, since each changes the index."""
        how = hashlib.blake2b(f"{self.k1}|{self.b}|{current().code}|{text_processing()}|{FORMAT}".encode(),
                              digest_size=6).hexdigest()
        return self.store.derived_dir() / "bm25" / f"{fp}-{how}"

    def get(self) -> LexicalIndex:
        return self.snapshot().index

    def prepare(self) -> None:
        """After an ingest: build and save a large store's index (a store held whole builds on first use)."""
        if not self.store.fits_mirror(self.mirror_bytes):
            self.snapshot()

    def invalidate(self) -> None:
        """This process wrote the store: the next query checks its version at once (another process's
        writes are seen within ``refresh`` seconds)."""
        with self._lock:
            self._checked = float("-inf")


def fuse(lists: list[list[str]], cfg: FusionConfig) -> dict[str, float]:
    """Reciprocal rank fusion of the first stage's ranked lists (an empty list adds nothing)."""
    out: dict[str, float] = {}
    for ids in lists:
        for r, cid in enumerate(ids):
            out[cid] = out.get(cid, 0.0) + 1.0 / (cfg.rrf_k + r + 1)
    return out


@dataclass
class Ranking:
    """One retriever's answer: chunk ids best first, and each one's score."""

    ids: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    rank: dict[str, int] = field(default_factory=dict)

    def add(self, cid: str, score: float) -> None:
        self.rank[cid] = len(self.ids)
        self.ids.append(cid)
        self.scores[cid] = score


def dense_ranking(qvec: np.ndarray, store: Store, mirror: VectorMirror | None, snap: LexicalSnapshot | None,
                  depth: int, where: dict | None, chunks: dict[str, StoredChunk]) -> Ranking:
    """Nearest chunks: exact over the in-memory mirror when there is one, else Chroma's HNSW."""
    out = Ranking()
    if mirror is not None and snap is not None:
        hits = [(snap.chunks[row], sim) for row, sim in mirror.nearest(qvec, depth)]
    else:
        hits = store.query(qvec, depth, where=where)
    for c, sim in hits:
        chunks.setdefault(c.id, c)
        out.add(c.id, sim)
    return out


def sentence_ranking(qvec: np.ndarray, store: Store, mirror: VectorMirror | None, depth: int,
                     where: dict | None) -> Ranking:
    """Chunks by their best sentence (the ``2 * depth`` nearest sentences, one entry per chunk)."""
    if mirror is not None:
        hits = [(mirror.ids[row], sim) for row, sim in mirror.nearest_sentences(qvec, depth * 2)]
    else:
        hits = store.query_sentences(qvec, depth * 2, where=where)
    out = Ranking()
    for cid, sim in hits:
        if cid not in out.scores:
            out.add(cid, sim)
            if len(out.ids) >= depth:
                break
    return out


def lexical_ranking(question: str, store: Store, snap: LexicalSnapshot, depth: int, where: dict | None,
                    chunks: dict[str, StoredChunk]) -> Ranking:
    index = snap.index
    mask = None
    if where:
        allowed = store.matching(where)
        mask = np.array([1.0 if i in allowed else 0.0 for i in index.ids], dtype=np.float32)
    out = Ranking()
    for row, sc in index.search(question, depth, allowed=mask):
        cid = str(index.ids[row])
        if snap.chunks:  # held whole; a large store's chunks are read by id afterwards
            chunks.setdefault(cid, snap.chunks[row])
        out.add(cid, sc)
    return out


def first_stage(question: str, qvec: np.ndarray, store: Store, lexical: LexicalCache | None,
                cfg: FusionConfig, where: dict | None = None) -> list[Candidate]:
    """Dense, sentence and BM25 rankings fused into ``cfg.depth`` candidates. ``lexical`` also carries the
    store's vector mirror, used when there is no metadata filter."""
    snap = lexical.snapshot() if lexical is not None else None
    mirror = snap.vectors if snap is not None and not where else None
    chunks: dict[str, StoredChunk] = {}  # in first-seen order: it breaks ties in the fused order
    dense = dense_ranking(qvec, store, mirror, snap, cfg.depth, where, chunks) if cfg.dense else Ranking()
    bm25 = (lexical_ranking(question, store, snap, cfg.depth, where, chunks)
            if cfg.lexical and snap is not None else Ranking())
    sent = sentence_ranking(qvec, store, mirror, cfg.depth, where) if cfg.sentences else Ranking()
    missing = [cid for cid in dict.fromkeys([*bm25.ids, *sent.ids]) if cid not in chunks]
    if missing and mirror is not None and snap is not None:
        chunks.update((cid, snap.chunks[mirror.row[cid]]) for cid in missing)
    elif missing:  # in this order, as ties go to the first seen; a chunk deleted since is left out
        found = {c.id: c for c in store.chunks(missing)}
        chunks.update((cid, found[cid]) for cid in missing if cid in found)
    fused = fuse([dense.ids, sent.ids, bm25.ids], cfg)
    best = sorted(chunks.values(), key=lambda c: -fused.get(c.id, 0.0))[:cfg.depth]
    return [c.candidate(_signals(c.id, fused.get(c.id, 0.0), dense, sent, bm25)) for c in best]


def _signals(cid: str, fused: float, dense: Ranking, sent: Ranking, bm25: Ranking) -> dict[str, float]:
    """A candidate's first-stage scores by name: each retriever's score and rank, and the fused score."""
    scores: dict[str, float] = {}
    for name, ranking in (("dense", dense), ("sentence", sent), ("lexical", bm25)):
        if cid in ranking.scores:
            scores[name] = ranking.scores[cid]
            scores[f"{name}_rank"] = float(ranking.rank[cid])
    scores["fused"] = fused
    return scores
