"""The LangChain face (rag/integrations/langchain.py) inside an LCEL chain built the way LangChain's docs show,
with its own fake chat model; the assertions are on what reaches the model."""
from __future__ import annotations

import pytest
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.vectorstores import InMemoryVectorStore

from rag import Pipeline
from rag.integrations.langchain import LeanCompressor
from rag.integrations.langchain import LeanRetriever as LCLeanRetriever
from rag.tokens import count_tokens
from tests.integrations.conftest import FACTS, QUESTION

pytestmark = pytest.mark.integration


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
