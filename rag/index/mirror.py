"""The store's chunk and sentence vectors in memory, for exact nearest-neighbour search and free evidence.

Derived data, like the BM25 index: rebuilt from Chroma after an ingest changed the collection. A query
then costs two matrix-vector products instead of two HNSW queries and a metadata-filtered fetch of
sentence vectors (SciFact: about 65 ms of Chroma calls per query). Float32 rows and a float16 copy for
the shortlist, so about ``(chunks + sentences) * dimension * 6`` bytes: 115 MB per 10,000 SciFact chunks
(4 sentences each, 384 dimensions). A store larger than the ceiling (``vector_mirror_mb``) is queried in Chroma instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SentenceRows:
    """Each sentence of the mirrored chunks: its chunk's row, its span in the chunk text, its vector."""

    chunk_row: np.ndarray   # (m,) int
    spans: np.ndarray       # (m, 2) int, offsets into the chunk text
    vectors: np.ndarray     # (m, d) float32, unit rows
    half: np.ndarray        # the same in float16: the shortlist's product

    @classmethod
    def of(cls, chunk_row: np.ndarray, spans: np.ndarray, vectors: np.ndarray) -> SentenceRows:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return cls(chunk_row, spans, vectors, vectors.astype(np.float16))


@dataclass(frozen=True)
class VectorMirror:
    """Rows in the order of ``ids``; the sentences of chunk ``r`` are rows ``first[r]:first[r + 1]``."""

    ids: tuple[str, ...]
    row: dict[str, int]     # id -> row
    vectors: np.ndarray     # (n, d) float32, unit rows
    sentences: SentenceRows
    first: np.ndarray       # (n + 1,) int
    half: np.ndarray        # ``vectors`` in float16

    @classmethod
    def build(cls, ids: tuple[str, ...], vectors: np.ndarray, chunk_ids: list[str], order: list[int],
              spans: list[tuple[int, int]], sentence_vectors: np.ndarray) -> VectorMirror:
        """From chunk rows and sentence rows in any order (``order``: each sentence's index in its chunk).
        Sentences whose chunk is not among ``ids`` (a write in flight, an orphan) are left out."""
        row = {cid: r for r, cid in enumerate(ids)}
        keep = [i for i, cid in enumerate(chunk_ids) if cid in row]
        keep.sort(key=lambda i: (row[chunk_ids[i]], order[i]))
        chunk_row = np.fromiter((row[chunk_ids[i]] for i in keep), dtype=np.int64, count=len(keep))
        first = np.searchsorted(chunk_row, np.arange(len(ids) + 1), side="left")
        sent = SentenceRows.of(chunk_row, np.asarray([spans[i] for i in keep], dtype=np.int64).reshape(-1, 2),
                               sentence_vectors[keep])
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return cls(ids, row, vectors, sent, first, vectors.astype(np.float16))

    def nearest(self, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk row, cosine) of the ``k`` nearest chunks, best first."""
        return _nearest(self.vectors, self.half, qvec, k)

    def nearest_sentences(self, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk row, cosine of the sentence) of the ``k`` nearest sentences, best first."""
        rows = self.sentences.chunk_row
        return [(int(rows[i]), sim) for i, sim in _nearest(self.sentences.vectors, self.sentences.half, qvec, k)]

    def evidence(self, row: int) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray] | None:
        """(chunk vector, sentence spans, sentence vectors), or None when its sentences are not mirrored."""
        a, b = int(self.first[row]), int(self.first[row + 1])
        if a == b:
            return None
        spans = [(int(s), int(e)) for s, e in self.sentences.spans[a:b]]
        return self.vectors[row], spans, self.sentences.vectors[a:b]


def _nearest(exact: np.ndarray, half: np.ndarray, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` rows of ``exact`` nearest to ``qvec``, by exact float32 cosines. A float16 product
    shortlists them first: it reads half the bytes and runs 3x faster (SciFact's 60,000 rows: 3.3 ms
    against 9.6 ms). Its error (about 1e-3 in a cosine) is far below the gap between the k-th row and
    the shortlist's last, so the exact top ``k`` is the same as a float32 product over all rows gives."""
    n = len(exact)
    short = min(n, k + max(64, k // 2))
    if short <= 0:
        return []
    if short < n:
        rows = np.argpartition(-_similarities(half, qvec), short - 1)[:short]
        return [(int(rows[i]), sim) for i, sim in _top(_similarities(exact[rows], qvec), k)]
    return _top(_similarities(exact, qvec), k)


def _similarities(matrix: np.ndarray, qvec: np.ndarray) -> np.ndarray:
    # Through torch, not numpy: OpenBLAS's threads keep spinning after a product and starve the next
    # query's encoder pass of its cores (21 ms became 60-100 ms); torch's own pool is the encoder's.
    import torch

    if len(matrix) == 0:
        return np.zeros(0, dtype=np.float32)
    return torch.mv(torch.from_numpy(matrix), torch.from_numpy(np.ascontiguousarray(qvec, dtype=matrix.dtype))).numpy()


def _top(sims: np.ndarray, k: int) -> list[tuple[int, float]]:
    k = min(k, len(sims))
    if k <= 0:
        return []
    part = np.argpartition(-sims, k - 1)[:k]
    best = part[np.argsort(-sims[part], kind="stable")]
    return [(int(i), float(sims[i])) for i in best]
