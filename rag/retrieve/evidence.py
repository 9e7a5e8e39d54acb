"""Evidence for reranking and pruning: each candidate's vector and its sentences' spans and vectors.

Stored chunks bring theirs (from the in-memory mirror, else from Chroma); passages a caller supplies are
encoded once. Each kind has its own cache, bounded in entries and bytes, least recently used out first:
the stored chunks come back question after question, a caller's passages mostly do not, and a client
sending new long passages on every call must neither evict the store's evidence nor grow the process by
more than the caller cache's few MB.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from rag.index.mirror import VectorMirror
from rag.index.store import Store
from rag.retrieve.features import Evidence
from rag.text import embed_text, sentence_spans
from rag.types import Candidate


class _Bounded:
    """Least-recently-used evidence, at most ``max_mb`` megabytes of vectors."""

    def __init__(self, max_mb: float) -> None:
        self.most = max_mb * 1e6
        self.items: OrderedDict[str, Evidence] = OrderedDict()
        self.bytes = 0

    def recall(self, keys: list[str]) -> dict[str, Evidence]:
        out = {}
        for k in keys:
            if k in self.items:
                self.items.move_to_end(k)
                out[k] = self.items[k]
        return out

    def remember(self, items: dict[str, Evidence]) -> None:
        for key, ev in items.items():
            if _nbytes(ev) > self.most:
                continue  # one huge passage must not empty the cache for everyone else
            old = self.items.pop(key, None)
            self.bytes += _nbytes(ev) - (_nbytes(old) if old is not None else 0)
            self.items[key] = ev
        while self.items and self.bytes > self.most:
            _, gone = self.items.popitem(last=False)
            self.bytes -= _nbytes(gone)


class EvidenceSource:
    def __init__(self, encode: Callable[[list[str]], np.ndarray], *, max_mb: float, caller_mb: float) -> None:
        self._encode = encode
        self._lock = threading.Lock()
        self._caches = {"stored": _Bounded(max_mb), "caller": _Bounded(caller_mb)}
        self._lookups: dict[str, tuple[int, int]] = {"mirror": (0, 0), "evidence": (0, 0)}  # (hits, lookups)

    @property
    def nbytes(self) -> int:
        """Bytes of vectors held in the caches."""
        return sum(c.bytes for c in self._caches.values())

    def __len__(self) -> int:
        return sum(len(c.items) for c in self._caches.values())

    def held(self, kind: str | None = None) -> list[Evidence]:
        with self._lock:
            return [ev for name, c in self._caches.items() if kind in (None, name) for ev in c.items.values()]

    def stats(self) -> dict[str, tuple[int, int]]:
        """(hits, lookups) since start: "mirror" (stored chunks read from the mirror), "evidence" (the caches)."""
        with self._lock:
            return dict(self._lookups)

    def stored(self, candidates: list[Candidate], store: Store, mirror: VectorMirror | None) -> dict[str, Evidence]:
        """Evidence of stored chunks. Chunk ids derive from content and one store has one model, so a chunk's
        vectors never change: read from the mirror of any snapshot, or cached without invalidation."""
        out: dict[str, Evidence] = {}
        if mirror is not None:
            for c in candidates:
                row = mirror.row.get(c.id)
                got = mirror.evidence(row) if row is not None else None
                if got is not None:
                    out[c.id] = Evidence(*got)
        with self._lock:
            hits, total = self._lookups["mirror"]
            self._lookups["mirror"] = (hits + len(out), total + len(candidates))
        out.update(self._recall("stored", [c.id for c in candidates if c.id not in out]))
        ids = [c.id for c in candidates if c.id not in out]
        found = {cid: Evidence(*got) for cid, got in store.evidence(ids).items()}
        self._remember("stored", found)
        out.update(found)
        out.update(self.computed([c for c in candidates if c.id not in out]))
        return out

    def computed(self, candidates: list[Candidate]) -> dict[str, Evidence]:
        """Evidence of passages the store does not hold, encoded here. Keyed by content (title and text), not
        by the caller's ids: an experiment's grid or a client sending the same passages again embeds them once."""
        keys = {c.id: "text:" + hashlib.blake2b(f"{c.title}\0{c.text}".encode(), digest_size=16).hexdigest()
                for c in candidates}
        known = self._recall("caller", list(keys.values()))
        todo = [c for c in candidates if keys[c.id] not in known]
        if todo:
            spans = [sentence_spans(c.text) for c in todo]
            texts = [embed_text(c.title, c.text) for c in todo]
            texts += [c.text[a:b] for c, sp in zip(todo, spans, strict=True) for a, b in sp]
            vecs = self._encode(texts)
            fresh, row = {}, len(todo)
            for i, (c, sp) in enumerate(zip(todo, spans, strict=True)):
                fresh[keys[c.id]] = Evidence(vecs[i], sp, vecs[row:row + len(sp)])
                row += len(sp)
            self._remember("caller", fresh)
            known.update(fresh)
        return {c.id: known[keys[c.id]] for c in candidates}

    def _recall(self, kind: str, keys: list[str]) -> dict[str, Evidence]:
        with self._lock:
            out = self._caches[kind].recall(keys)
            hits, total = self._lookups["evidence"]
            self._lookups["evidence"] = (hits + len(out), total + len(keys))
        return out

    def _remember(self, kind: str, items: dict[str, Evidence]) -> None:
        with self._lock:
            self._caches[kind].remember(items)


def _nbytes(ev: Evidence) -> int:
    return int(ev.vector.nbytes + ev.sentence_vectors.nbytes)
