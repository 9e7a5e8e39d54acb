"""BM25 over the chunks of the collection (bm25s). Derived data: rebuilt whenever Chroma changed."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from rag.text import terms


class LexicalIndex:
    """BM25 over ``texts`` (already the lexical view: title and text), with per-term IDF for features.

    Example:
        >>> ix = LexicalIndex(["a", "b"], ["reciprocal rank fusion", "token budget"])
        >>> ix.search("fusion", k=1)[0][0]
        0
    """

    def __init__(self, ids: Sequence[str], texts: Sequence[str], *, k1: float = 0.9, b: float = 0.4,
                 fingerprint: str = "") -> None:
        import bm25s

        self.ids = list(ids)
        self.fingerprint = fingerprint
        tokens = [terms(t) for t in texts]
        self.n = len(tokens)
        self.df = Counter(t for doc in tokens for t in set(doc))
        self._bm25 = None
        if any(tokens):
            self._bm25 = bm25s.BM25(k1=k1, b=b)
            self._bm25.index(tokens, show_progress=False)
            self._vocab = self._bm25.vocab_dict

    def search(self, query: str, k: int, *, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(row, BM25 score) best first; ``allowed`` is a 0/1 mask over rows (metadata filters)."""
        if self._bm25 is None or k <= 0:
            return []
        q = [t for t in terms(query) if t in self._vocab]
        if not q:
            return []
        k = min(k, self.n)
        # n_threads=0 scores in this thread; any other value starts and joins a thread pool per query
        # (about 2 ms of a SciFact query)
        rows, scores = self._bm25.retrieve([q], k=k, show_progress=False, weight_mask=allowed,
                                           n_threads=0)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]
