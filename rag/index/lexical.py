"""BM25 over the chunks of the collection (bm25s). Derived data: rebuilt whenever Chroma changed, and for a
store too large to hold in memory also kept on disk, so a new process maps it instead of reading the store."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

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

        self.ids: Sequence[str] = list(ids)
        self.fingerprint = fingerprint
        tokens = [terms(t) for t in texts]
        self.n = len(tokens)
        self.df: dict[str, int] = Counter(t for doc in tokens for t in set(doc))
        self._bm25 = None
        self._vocab: dict[str, int] = {}
        if any(tokens):
            self._bm25 = bm25s.BM25(k1=k1, b=b)
            self._bm25.index(tokens, show_progress=False)
            self._vocab = self._bm25.vocab_dict

    def save(self, folder: Path) -> None:
        """Write the index into ``folder`` (made whole or not at all: written beside it, then renamed)."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        part = folder.parent / f".{folder.name}.{uuid.uuid4().hex}"
        part.mkdir()
        try:
            if self._bm25 is not None:
                self._bm25.save(str(part / "bm25"), show_progress=False)
            np.save(part / "ids.npy", np.asarray(list(self.ids), dtype=str))
            (part / "meta.json").write_text(json.dumps({"n": self.n, "fingerprint": self.fingerprint,
                                                        "df": self.df}), encoding="utf-8")
            os.replace(part, folder)  # another process may have saved the same version first: either will do
        except OSError:
            if not folder.exists():
                raise
        finally:
            shutil.rmtree(part, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """An index ``save`` wrote, its postings and ids mapped from disk (pages are read as queries touch them)."""
        import bm25s

        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        self = cls.__new__(cls)
        self.ids = np.load(folder / "ids.npy", mmap_mode="r")
        self.fingerprint, self.n, self.df = meta["fingerprint"], int(meta["n"]), meta["df"]
        self._bm25, self._vocab = None, {}
        if (folder / "bm25").exists():
            self._bm25 = bm25s.BM25.load(str(folder / "bm25"), mmap=True, show_progress=False)
            self._vocab = self._bm25.vocab_dict
        return self

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
