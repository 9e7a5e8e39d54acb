"""LlamaIndex faces: ``LeanPostprocessor`` (a node postprocessor for any query engine: its nodes in, the
lean subset out) and ``LeanRetriever`` (a leanrag store as a retriever). With your index and a pipeline ``p``::

    engine = index.as_query_engine(node_postprocessors=[LeanPostprocessor(pipeline=p)])
"""
from __future__ import annotations

from typing import Any

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode

from rag.errors import InputError
from rag.integrations.passages import LeanFace, as_passages, lean_metadata, position, resolve_pipeline
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.tokens import seed_cache

# LlamaIndex counts tokens with tiktoken's cl100k_base and would download it on first use: offline
# machines get the packaged copy, as leanrag's own counts do.
seed_cache("cl100k_base")


class LeanPostprocessor(LeanFace, BaseNodePostprocessor):
    """Reranks and prunes a query engine's nodes; kept nodes carry the kept text and leanrag's metadata.
    Built with ``pipeline=`` or ``settings=``."""

    @classmethod
    def class_name(cls) -> str:
        return "LeanPostprocessor"

    def _postprocess_nodes(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
                           ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise InputError("LeanPostprocessor needs the query (query_str or query_bundle)")
        if not nodes:
            return []
        ctx = self.lean.retrieve(query_bundle.query_str, passages=as_passages(
            [n.node.get_content() for n in nodes], [n.node.metadata for n in nodes]), **self.overrides)
        out = []
        for p in ctx.passages:
            original = nodes[position(p)].node
            # the caller's node id and its relationships (ref_doc_id comes from the SOURCE link) stay
            node = TextNode(text=p.text, id_=original.node_id, relationships=dict(original.relationships),
                            metadata={**original.metadata, **lean_metadata(p, ctx, original.node_id)})
            out.append(NodeWithScore(node=node, score=p.score))
        return out


class LeanRetriever(BaseRetriever):
    """The lean context of a leanrag store as LlamaIndex nodes."""

    def __init__(self, pipeline: Pipeline | None = None, *, settings: Settings | None = None,
                 overrides: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.pipeline, self.overrides = resolve_pipeline(pipeline, settings), overrides or {}

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        ctx = self.pipeline.retrieve(query_bundle.query_str, **self.overrides)
        return [NodeWithScore(node=TextNode(
            text=p.text, id_=p.id, metadata={"source": p.source, "title": p.title, **lean_metadata(p, ctx)},
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=p.doc_id)}),  # ref_doc_id: the document
            score=p.score) for p in ctx.passages]
