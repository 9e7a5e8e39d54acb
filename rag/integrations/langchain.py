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
from pydantic import ConfigDict, Field

from rag.integrations.passages import as_passages, lean_metadata, position
from rag.pipeline import Pipeline


class LeanCompressor(BaseDocumentCompressor):
    """Reranks and prunes the documents it is given (sentences, duplicates, the token budget). It returns
    fewer or shorter documents, never more text than it got, and never an empty list unless the
    pipeline's settings allow it (``allow_empty``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    pipeline: Pipeline
    overrides: dict[str, Any] = Field(default_factory=dict, description="per-call settings, e.g. token_budget")

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        if not documents:
            return []
        ctx = self.pipeline.retrieve(query, passages=as_passages([d.page_content for d in documents],
                                                                  [d.metadata for d in documents]),
                                     **self.overrides)
        out = []
        for p in ctx.passages:
            original = documents[position(p)]
            out.append(Document(page_content=p.text, id=original.id,
                                metadata={**original.metadata, **lean_metadata(p, ctx)}))
        return out


class LeanRetriever(BaseRetriever):
    """The lean context of a leanrag store as LangChain documents."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    pipeline: Pipeline
    overrides: dict[str, Any] = Field(default_factory=dict)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[Document]:
        ctx = self.pipeline.retrieve(query, **self.overrides)
        return [Document(page_content=p.text, id=p.id,
                         metadata={"source": p.source, "title": p.title, **lean_metadata(p, ctx)})
                for p in ctx.passages]
