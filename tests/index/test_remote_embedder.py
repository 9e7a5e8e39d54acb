"""Embeddings from an OpenAI-compatible /v1/embeddings server (the test server computes them with the real
all-MiniLM-L6-v2, as a TEI server of that model would): the same vectors and the same retrieval as the local
encoder, batching, retries, the refusals a real server gives, and keys that stay where they belong."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, Settings
from rag.index.embedder import make_embedder
from rag.index.remote_embedder import RemoteEmbedder
from rag.index.store import StoreError
from rag.llm.errors import LLMAuthError, LLMBadRequest, LLMNotFound
from tests.conftest import CORPUS
from tests.fake_openai import API_KEY

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def remote(llm, **changes) -> RemoteEmbedder:  # noqa: ANN001
    s = Settings(embedding_backend="openai", embedding_base_url=llm.url, embedding_api_key=API_KEY,
                 llm_max_retries=2, **changes)
    e = make_embedder(s)
    assert isinstance(e, RemoteEmbedder)
    e.connection.cfg = e.connection.cfg.__class__(**{**e.connection.cfg.__dict__, "backoff": 0.01})
    return e


def embedding_calls(llm) -> list[dict]:  # noqa: ANN001
    return [r for r in llm.requests() if r["path"] == "/v1/embeddings"]


def test_the_server_gives_the_local_encoders_vectors_in_batches_each_text_once(llm, embedder) -> None:
    texts = [f"Sentence number {i} about lean retrieval." for i in range(7)] + ["Sentence number 0 about lean "
                                                                                 "retrieval."]
    e = remote(llm, embedding_batch_size=3, embedding_concurrency=2)
    got = e.encode(texts)
    want = embedder.encode(texts)
    assert got.shape == (8, 384) and got.dtype == np.float32
    assert np.allclose(got, want, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    sent = [len(r["body"]["input"]) for r in embedding_calls(llm)]
    assert sorted(sent) == [1, 3, 3]  # 7 distinct texts in batches of 3; the repeat is not sent
    assert e.dimension == 384


def test_rate_limits_and_server_faults_are_retried(llm) -> None:
    e = remote(llm)
    llm.script([{"status": 429, "retry_after": "0"}, {"status": 503}])
    assert e.encode(["one text", "another"]).shape == (2, 384)
    assert len(embedding_calls(llm)) == 3 and e.requests == 3


def test_refusals_name_the_setting_to_change(llm) -> None:
    with pytest.raises(LLMAuthError, match="RAG_EMBEDDING_API_KEY") as err:
        make_embedder(Settings(embedding_backend="openai", embedding_base_url=llm.url,
                               embedding_api_key="sk-wrong-key-123456")).encode(["x", "y"])
    assert "sk-wrong-key-123456" not in str(err.value)
    with pytest.raises(LLMNotFound, match="RAG_EMBEDDING_MODEL"):
        remote(llm, embedding_model="no-such-embedder").encode(["x", "y"])
    with pytest.raises(LLMBadRequest, match="dimensions"):
        remote(llm, embedding_dimensions=64).encode(["x", "y"])  # MiniLM cannot shorten its vectors


def test_shortened_vectors_and_long_texts(llm) -> None:
    e = remote(llm, embedding_model="text-embedding-3-small", embedding_dimensions=128)
    vectors = e.encode(["short text", "another short text"])
    assert vectors.shape == (2, 128) and e.dimension == 128
    assert all(r["body"]["dimensions"] == 128 for r in embedding_calls(llm))
    # MiniLM's server refuses inputs over 512 tokens: a longer text is cut to embedding_max_tokens, not refused
    long = " ".join(f"word{i}" for i in range(3000))
    cut = remote(llm, embedding_max_tokens=500).encode([long, "x"])
    assert cut.shape == (2, 384)
    assert max(len(t) for t in embedding_calls(llm)[-1]["body"]["input"]) < len(long)


def test_the_llm_key_goes_only_to_the_llm_host(llm) -> None:
    base = {"embedding_backend": "openai", "llm_api_key": "sk-llm-key-0123456789"}
    elsewhere = make_embedder(Settings(**base, embedding_base_url="http://127.0.0.1:9/v1",
                                       llm_base_url="https://api.example/v1"))
    same = make_embedder(Settings(**base, embedding_base_url="https://api.example/v1",
                                  llm_base_url="https://api.example/v1"))
    assert isinstance(elsewhere, RemoteEmbedder) and isinstance(same, RemoteEmbedder)
    assert elsewhere.connection.cfg.api_key is None
    assert same.connection.cfg.api_key == "sk-llm-key-0123456789"
    assert "sk-" not in repr(Settings(**base, embedding_api_key="sk-emb-0123456789").public_dict())


@pytest.mark.integration
def test_ingest_and_retrieve_through_the_server_match_local_encoding(llm, embedder, tmp_path: Path) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    local = Pipeline(Settings(store_path=tmp_path / "local"), embedder=embedder)
    served = Pipeline(Settings(store_path=tmp_path / "served", embedding_backend="openai",
                               embedding_base_url=llm.url, embedding_api_key=API_KEY))
    assert local.ingest([tmp_path / "corpus"]).embedded == served.ingest([tmp_path / "corpus"]).embedded
    assert embedding_calls(llm)
    for question in ("What is the usual constant in reciprocal rank fusion?",
                     "How are cached input tokens billed?"):
        a, b = local.retrieve(question), served.retrieve(question)
        assert [p.id for p in a.passages] == [p.id for p in b.passages]
        assert [p.score for p in a.passages] == pytest.approx([p.score for p in b.passages], abs=1e-3)
    # the store remembers its vectors' size: a run asking for other vectors is refused, not mixed in
    other = Pipeline(Settings(store_path=tmp_path / "served", embedding_backend="openai",
                              embedding_base_url=llm.url, embedding_api_key=API_KEY,
                              embedding_model="text-embedding-3-small", embedding_dimensions=128))
    with pytest.raises(StoreError, match="dimension 128"):
        other.retrieve("anything")
