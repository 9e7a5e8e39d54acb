"""Inside LangChain and LlamaIndex: the framework's own retriever with its stock pruner, and the same
retriever with leanrag's compressor / postprocessor swapped in (SQuAD v1.1 dev, the 300 test questions).

    .venv/bin/python scripts/bench_frameworks.py [--limit N]

Both frameworks index every SQuAD dev paragraph with the same MiniLM embeddings and retrieve the top 5.
LangChain's stock pruner: ContextualCompressionRetriever over a DocumentCompressorPipeline (split at
300 characters on sentence ends, EmbeddingsRedundantFilter, EmbeddingsFilter at 0.5; needs the bench
extra: ``pip install -e ".[bench]"``).
LlamaIndex's: SimilarityPostprocessor at 0.5. Printed: gold answer kept and context tokens (median, p90).
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from rag import Pipeline, Settings
from rag.evaluate.datasets import squad_split
from rag.evaluate.metrics import answer_kept, median, percentile
from rag.index.embedder import Embedder
from rag.tokens import count_tokens

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad-v1.1-dev" / "dev-v1.1.json"
K, CUTOFF = 5, 0.5


def paragraphs() -> list[tuple[str, str]]:
    data = json.loads(DATA.read_text())["data"]
    return [(f"{a['title']}:{i}", p["context"]) for a in data for i, p in enumerate(a["paragraphs"])]


def langchain_rows(questions, paras, embedder, pipeline) -> dict[str, list[tuple[float, int]]]:  # noqa: ANN001
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_classic.retrievers.document_compressors import DocumentCompressorPipeline, EmbeddingsFilter
    from langchain_community.document_transformers import EmbeddingsRedundantFilter
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import InMemoryVectorStore
    from langchain_text_splitters import CharacterTextSplitter

    from rag.integrations.langchain import LeanCompressor

    logging.getLogger("langchain_text_splitters").setLevel(logging.ERROR)  # "chunk longer than 300" per question
    class MiniLM(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [v.tolist() for v in embedder.encode(texts)]

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    store = InMemoryVectorStore(MiniLM())
    store.add_documents([Document(page_content=t, metadata={"source": pid}, id=pid) for pid, t in paras])
    base = store.as_retriever(search_kwargs={"k": K})
    stock = DocumentCompressorPipeline(transformers=[
        CharacterTextSplitter(chunk_size=300, chunk_overlap=0, separator=". "),
        EmbeddingsRedundantFilter(embeddings=MiniLM()),
        EmbeddingsFilter(embeddings=MiniLM(), similarity_threshold=CUTOFF)])
    runs = {"LangChain top-5 (no pruning)": base,
            f"LangChain top-5 + split/redundant/EmbeddingsFilter {CUTOFF}":
                ContextualCompressionRetriever(base_compressor=stock, base_retriever=base),
            "LangChain top-5 + leanrag LeanCompressor":
                ContextualCompressionRetriever(base_compressor=LeanCompressor(pipeline=pipeline), base_retriever=base)}
    return {name: [_measure("\n\n".join(d.page_content for d in r.invoke(q.text)), q) for q in questions]
            for name, r in runs.items()}


def llama_rows(questions, paras, embedder, pipeline) -> dict[str, list[tuple[float, int]]]:  # noqa: ANN001
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.postprocessor import SimilarityPostprocessor
    from llama_index.core.schema import QueryBundle, TextNode

    from rag.integrations.llama_index import LeanPostprocessor

    class MiniLM(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return embedder.encode([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return embedder.encode([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return [v.tolist() for v in embedder.encode(texts)]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    index = VectorStoreIndex([TextNode(text=t, id_=pid) for pid, t in paras], embed_model=MiniLM())
    retriever = index.as_retriever(similarity_top_k=K)
    posts = {"LlamaIndex top-5 (no pruning)": None,
             f"LlamaIndex top-5 + SimilarityPostprocessor {CUTOFF}": SimilarityPostprocessor(similarity_cutoff=CUTOFF),
             "LlamaIndex top-5 + leanrag LeanPostprocessor": LeanPostprocessor(pipeline=pipeline)}
    out: dict[str, list[tuple[float, int]]] = {name: [] for name in posts}
    for q in questions:
        nodes = retriever.retrieve(q.text)
        for name, post in posts.items():
            kept = post.postprocess_nodes(nodes, query_bundle=QueryBundle(q.text)) if post else nodes
            out[name].append(_measure("\n\n".join(n.node.get_content() for n in kept), q))
    return out


class Memo:
    """One MiniLM pass per distinct text, shared by both frameworks' indexes and queries."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder, self.seen = embedder, {}

    def encode(self, texts: list[str]):  # noqa: ANN201
        todo = [t for t in dict.fromkeys(texts) if t not in self.seen]
        if todo:
            self.seen.update(zip(todo, self.embedder.encode(todo), strict=True))
        return [self.seen[t] for t in texts]


def _measure(text: str, q) -> tuple[float, int]:  # noqa: ANN001
    return float(answer_kept(text, q.answers)), count_tokens(text) if text else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int)
    ap.add_argument("--only", default="langchain,llamaindex")
    args = ap.parse_args()
    _, test = squad_split(DATA)
    questions = test[:args.limit]
    paras = paragraphs()
    embedder = Embedder(Settings().ingest.embedding_model)
    pipeline = Pipeline(Settings(store_path="/nonexistent/leanrag-bench-frameworks"), embedder=embedder)
    memo = Memo(embedder)
    print(f"\nSQuAD v1.1 dev, {len(questions)} test questions over {len(paras)} paragraphs: gold answer kept")
    print(f"{'configuration':58s} {'kept':>6s} {'median tok':>11s} {'p90 tok':>8s}", flush=True)
    if "langchain" in args.only:
        _table(langchain_rows(questions, paras, memo, pipeline))
    if "llamaindex" in args.only:
        _table(llama_rows(questions, paras, memo, pipeline))


def _table(rows: dict[str, list[tuple[float, int]]]) -> None:
    for name, vals in rows.items():
        toks = [t for _, t in vals]
        print(f"{name:58s} {100 * sum(k for k, _ in vals) / len(vals):5.1f}% {median(toks):11.0f} "
              f"{percentile(toks, .9):8.0f}", flush=True)


if __name__ == "__main__":
    main()
