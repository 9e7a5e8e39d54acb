"""The LangChain and LlamaIndex faces, inside chains and query engines built the way their docs show, with
the frameworks' own fake/mock models; the assertions are on what reaches the model."""
from __future__ import annotations

import pytest
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.vectorstores import InMemoryVectorStore

from rag import Pipeline, Settings
from rag.integrations.langchain import LeanCompressor
from rag.integrations.langchain import LeanRetriever as LCLeanRetriever
from rag.tokens import count_tokens
from rag.types import Document

pytestmark = pytest.mark.integration

FACTS = ["The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
         "Quokkas are small marsupials that live on Rottnest Island. They eat leaves and grasses.",
         "Sourdough bread rises with wild yeast. It needs a starter fed with flour and water.",
         "The Nile flows north through eleven countries. It is the longest river in Africa.",
         "Reciprocal rank fusion adds 1/(k + rank) over lists; k is usually 60."]
QUESTION = "What do quokkas eat?"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, embedder) -> Pipeline:
    p = Pipeline(Settings(store_path=tmp_path_factory.mktemp("frameworks") / "store"), embedder=embedder)
    p.ingest_documents([Document(id=f"f{i}", source=f"facts/{i}.txt", title="", text=t) for i, t in enumerate(FACTS)])
    return p


class _MiniLM(Embeddings):
    """LangChain's embeddings interface over the same MiniLM (the base retriever a user already has)."""

    def __init__(self, embedder) -> None:  # noqa: ANN001
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [v.tolist() for v in self.embedder.encode(texts)]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_langchain_compressor_in_an_lcel_chain(pipeline: Pipeline, embedder) -> None:
    store = InMemoryVectorStore(_MiniLM(embedder))
    store.add_documents([LCDocument(page_content=t, metadata={"source": f"{i}.txt"}, id=f"d{i}")
                         for i, t in enumerate(FACTS)])
    retriever = store.as_retriever(search_kwargs={"k": 5})
    compressor = LeanCompressor(pipeline=pipeline)
    seen: list[str] = []

    def lean(question: str) -> str:
        docs = compressor.compress_documents(retriever.invoke(question), question)
        return "\n\n".join(d.page_content for d in docs)

    prompt = ChatPromptTemplate.from_messages([("system", "Answer from the context.\n{context}"),
                                               ("human", "{question}")])
    model = FakeListChatModel(responses=["They eat leaves."])
    chain = ({"context": RunnableLambda(lean), "question": RunnableLambda(lambda q: q)}
             | prompt | RunnableLambda(lambda v: seen.append(v.to_string()) or v) | model | StrOutputParser())
    assert chain.invoke(QUESTION) == "They eat leaves."
    sent = seen[0]
    assert "eat leaves and grasses" in sent and "Eiffel" not in sent and "Sourdough" not in sent

    kept = compressor.compress_documents(retriever.invoke(QUESTION), QUESTION)
    assert kept and kept[0].id == "d1" and kept[0].metadata["source"] == "1.txt"
    assert kept[0].metadata["leanrag_id"] == "d1"  # the caller's id (it once said leanrag's "p0")
    assert kept[0].metadata["leanrag_score"] > 0 and kept[0].metadata["leanrag_spans"]
    given = retriever.invoke(QUESTION)
    assert sum(count_tokens(d.page_content) for d in kept) <= sum(count_tokens(d.page_content) for d in given)


def test_langchain_compressor_edge_cases(pipeline: Pipeline) -> None:
    c = LeanCompressor(pipeline=pipeline)
    assert c.compress_documents([], QUESTION) == []
    # duplicate or missing ids, a document with no sentence worth keeping, one irrelevant document
    docs = [LCDocument(page_content="   ", id="x"), LCDocument(page_content="Bread needs flour.", id="x"),
            LCDocument(page_content="Bread needs flour.")]
    out = c.compress_documents(docs, QUESTION)
    assert len(out) >= 1  # never empty unless asked
    assert c.compress_documents(docs, QUESTION) == out
    assert LeanCompressor(pipeline=pipeline, overrides={"allow_empty": True, "min_score": 0.99}).compress_documents(
        docs, QUESTION) == []


def test_langchain_retriever_over_a_leanrag_store(pipeline: Pipeline) -> None:
    docs = LCLeanRetriever(pipeline=pipeline).invoke(QUESTION)
    assert docs and "leaves" in docs[0].page_content and docs[0].metadata["source"] == "facts/1.txt"
    assert all("Eiffel" not in d.page_content for d in docs)


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
