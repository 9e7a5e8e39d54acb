"""The store's chunk and sentence vectors in memory, for exact nearest-neighbour search and free evidence.

Derived data, like the BM25 index: rebuilt from Chroma after an ingest changed the collection. A query
then costs two matrix-vector products instead of two HNSW queries and a metadata-filtered fetch of
sentence vectors (SciFact: about 65 ms of Chroma calls per query). Float32 rows, so about
``(chunks + sentences) * dimension * 4`` bytes: 77 MB per 10,000 SciFact chunks (4 sentences each,
384 dimensions). A store larger than the ceiling (``vector_mirror_mb``) is queried in Chroma instead.
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


@dataclass(frozen=True)
class VectorMirror:
    """Rows in the order of ``ids``; the sentences of chunk ``r`` are rows ``first[r]:first[r + 1]``."""

    ids: tuple[str, ...]
    row: dict[str, int]     # id -> row
    vectors: np.ndarray     # (n, d) float32, unit rows
    sentences: SentenceRows
    first: np.ndarray       # (n + 1,) int

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
        sent = SentenceRows(chunk_row, np.asarray([spans[i] for i in keep], dtype=np.int64).reshape(-1, 2),
                            np.ascontiguousarray(sentence_vectors[keep], dtype=np.float32))
        return cls(ids, row, np.ascontiguousarray(vectors, dtype=np.float32), sent, first)

    def nearest(self, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk row, cosine) of the ``k`` nearest chunks, best first."""
        return _top(_similarities(self.vectors, qvec), k)

    def nearest_sentences(self, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk row, cosine of the sentence) of the ``k`` nearest sentences, best first."""
        rows = self.sentences.chunk_row
        return [(int(rows[i]), sim) for i, sim in _top(_similarities(self.sentences.vectors, qvec), k)]

    def evidence(self, row: int) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray] | None:
        """(chunk vector, sentence spans, sentence vectors), or None when its sentences are not mirrored."""
        a, b = int(self.first[row]), int(self.first[row + 1])
        if a == b:
            return None
        spans = [(int(s), int(e)) for s, e in self.sentences.spans[a:b]]
        return self.vectors[row], spans, self.sentences.vectors[a:b]


def _similarities(matrix: np.ndarray, qvec: np.ndarray) -> np.ndarray:
    # Through torch, not numpy: OpenBLAS's threads keep spinning after a product and starve the next
    # query's encoder pass of its cores (21 ms became 60-100 ms); torch's own pool is the encoder's.
    import torch

    if len(matrix) == 0:
        return np.zeros(0, dtype=np.float32)
    return torch.mv(torch.from_numpy(matrix), torch.from_numpy(np.ascontiguousarray(qvec, dtype=np.float32))).numpy()


def _top(sims: np.ndarray, k: int) -> list[tuple[int, float]]:
    k = min(k, len(sims))
    if k <= 0:
        return []
    part = np.argpartition(-sims, k - 1)[:k]
    best = part[np.argsort(-sims[part], kind="stable")]
    return [(int(i), float(sims[i])) for i in best]
