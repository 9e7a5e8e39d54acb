"""The LlamaIndex face (rag/integrations/llama_index.py) inside a query engine built the way LlamaIndex's docs
show, with its mock model; and both faces built from a pipeline or from settings."""
from __future__ import annotations

import pytest

from rag import Pipeline, Settings
from rag.integrations.langchain import LeanCompressor
from rag.integrations.langchain import LeanRetriever as LCLeanRetriever
from tests.integrations.conftest import FACTS, QUESTION

pytestmark = pytest.mark.integration


def test_llama_index_postprocessor_in_a_query_engine(pipeline: Pipeline, embedder) -> None:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.llms import MockLLM
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    from rag.integrations.llama_index import LeanPostprocessor, LeanRetriever

    class MiniLM(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return embedder.encode([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return embedder.encode([text])[0].tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo

    nodes = [TextNode(text=t, id_=f"n{i}", metadata={"file_name": f"{i}.txt"},
                      relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc{i}")})
             for i, t in enumerate(FACTS)]
    index = VectorStoreIndex(nodes, embed_model=MiniLM())
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=5,
                                   node_postprocessors=[LeanPostprocessor(pipeline=pipeline)])
    response = engine.query(QUESTION)
    sent = str(response)  # MockLLM answers with the prompt it was sent
    assert "eat leaves and grasses" in sent and "Eiffel" not in sent and "Sourdough" not in sent
    assert [n.node.node_id for n in response.source_nodes][:1] == ["n1"]
    assert response.source_nodes[0].node.metadata["file_name"] == "1.txt"
    # the link to the caller's document survives pruning (ref_doc_id was lost), and leanrag_id is the node's
    assert response.source_nodes[0].node.ref_doc_id == "doc1"
    assert response.source_nodes[0].node.metadata["leanrag_id"] == "n1"

    post = LeanPostprocessor(pipeline=pipeline)
    assert post.postprocess_nodes([], query_str=QUESTION) == []
    odd = [NodeWithScore(node=TextNode(text="  ", id_="a")), NodeWithScore(node=TextNode(text="Bread.", id_="a"))]
    assert len(post.postprocess_nodes(odd, query_bundle=QueryBundle(QUESTION))) == 1
    found = LeanRetriever(pipeline=pipeline).retrieve(QUESTION)
    assert found and "leaves" in found[0].node.get_content()
    assert found[0].node.ref_doc_id == found[0].node.metadata["leanrag_id"]  # the stored document


def test_faces_take_pipeline_or_settings(tmp_path, pipeline: Pipeline) -> None:
    from rag.integrations.llama_index import LeanPostprocessor, LeanRetriever

    s = Settings(store_path=tmp_path / "own", token_budget=40)
    for face in (LeanCompressor(settings=s), LCLeanRetriever(settings=s), LeanPostprocessor(settings=s)):
        assert face.pipeline is not None and face.pipeline.settings.prune.token_budget == 40
    assert LeanRetriever(settings=s).pipeline.settings.prune.token_budget == 40
    assert LeanCompressor(pipeline=pipeline).pipeline is pipeline
    with pytest.raises(ValueError, match="not both"):
        LeanCompressor(pipeline=pipeline, settings=s)
