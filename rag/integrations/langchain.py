"""LangChain faces: ``LeanCompressor`` (a document compressor for ``ContextualCompressionRetriever`` or an
LCEL chain: any retriever's documents in, the lean subset out) and ``LeanRetriever`` (a leanrag store).

    >>> from langchain_classic.retrievers import ContextualCompressionRetriever  # doctest: +SKIP
    >>> lean = ContextualCompressionRetriever(base_compressor=LeanCompressor(pipeline=p), base_retriever=r)
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun, Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.integrations.passages import as_passages, lean_metadata, position, resolve_pipeline
from rag.pipeline import Pipeline
from rag.settings import Settings


class _Face(BaseModel):
    """``pipeline=`` or ``settings=``; either way ``self.pipeline`` is the one used."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    pipeline: Pipeline | None = None
    settings: Settings | None = None
    overrides: dict[str, Any] = Field(default_factory=dict, description="per-call settings, e.g. token_budget")

    @model_validator(mode="after")
    def _one_pipeline(self) -> _Face:
        self.pipeline = resolve_pipeline(self.pipeline, self.settings)
        return self

    @property
    def lean(self) -> Pipeline:
        assert self.pipeline is not None  # set by the validator
        return self.pipeline


class LeanCompressor(_Face, BaseDocumentCompressor):
    """Reranks and prunes the documents it is given (sentences, duplicates, the token budget). It returns
    fewer or shorter documents, never more text than it got, and never an empty list unless the
    pipeline's settings allow it (``allow_empty``)."""

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        if not documents:
            return []
        ctx = self.lean.retrieve(query, passages=as_passages([d.page_content for d in documents],
                                                                  [d.metadata for d in documents]),
                                     **self.overrides)
        out = []
        for p in ctx.passages:
            original = documents[position(p)]
            out.append(Document(page_content=p.text, id=original.id,
                                metadata={**original.metadata, **lean_metadata(p, ctx)}))
        return out


class LeanRetriever(_Face, BaseRetriever):
    """The lean context of a leanrag store as LangChain documents."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[Document]:
        ctx = self.lean.retrieve(query, **self.overrides)
        return [Document(page_content=p.text, id=p.id,
                         metadata={"source": p.source, "title": p.title, **lean_metadata(p, ctx)})
                for p in ctx.passages]
