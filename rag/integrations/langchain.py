"""LangChain faces: ``LeanCompressor`` (a document compressor for ``ContextualCompressionRetriever`` or an
LCEL chain: any retriever's documents in, the lean subset out) and ``LeanRetriever`` (a leanrag store).
With your retriever ``r`` and a pipeline ``p``::

    from langchain_classic.retrievers import ContextualCompressionRetriever
    lean = ContextualCompressionRetriever(base_compressor=LeanCompressor(pipeline=p), base_retriever=r)
"""
from __future__ import annotations

from collections.abc import Sequence

from langchain_core.callbacks import CallbackManagerForRetrieverRun, Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever

from rag.integrations.passages import LeanFace, as_passages, lean_metadata, position


class LeanCompressor(LeanFace, BaseDocumentCompressor):
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
                                metadata={**original.metadata, **lean_metadata(p, ctx, original.id)}))
        return out


class LeanRetriever(LeanFace, BaseRetriever):
    """The lean context of a leanrag store as LangChain documents."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[Document]:
        ctx = self.lean.retrieve(query, **self.overrides)
        return [Document(page_content=p.text, id=p.id,
                         metadata={"source": p.source, "title": p.title, **lean_metadata(p, ctx)})
                for p in ctx.passages]
