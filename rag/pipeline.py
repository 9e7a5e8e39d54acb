"""The one place where the stages are wired together.

Example:
    >>> from rag import Pipeline, Settings
    >>> p = Pipeline.from_settings(Settings(store_path="/tmp/leanrag-doc"))
    >>> report = p.ingest(["corpus/"])
    >>> report.files > 0
    True
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.index.embedder import Embedder
from rag.index.store import Store
from rag.ingest.ingest import ingest as run_ingest
from rag.settings import Settings
from rag.types import IngestReport


class Pipeline:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> Pipeline:
        settings = settings or Settings()
        if overrides:
            settings = settings.replace(**overrides)
        return cls(settings)

    @cached_property
    def embedder(self) -> Embedder:
        if self._embedder is not None:
            return self._embedder
        s = self.settings
        return Embedder(s.embedding_model, device=s.device, batch_size=s.embedding_batch_size)

    def store(self, *, create: bool = False) -> Store:
        cached = self.__dict__.get("_store")
        if cached is None:
            cached = Store(self.settings, model=self.settings.embedding_model,
                           dimension=self.embedder.dimension, create=create)
            self.__dict__["_store"] = cached
        return cached

    def search(self, question: str, k: int = 10, *, where: dict | None = None) -> list[tuple[Any, float]]:
        """Dense search in the store: (chunk, cosine similarity), best first."""
        vector = self.embedder.encode([question])[0]
        return self.store().query(vector, k, where=where)

    def ingest(self, paths: Iterable[str | Path], *, progress: bool = False) -> IngestReport:
        """Bring the store in line with ``paths`` (files and folders): add, update, remove."""
        return run_ingest(paths, settings=self.settings, embedder=self.embedder,
                          store=self.store(create=True), progress=progress)
