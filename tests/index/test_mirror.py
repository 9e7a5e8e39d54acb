"""The in-memory vector mirror answers as Chroma does (exact search; on a small store HNSW is exact too)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, Settings

pytestmark = pytest.mark.integration

QUESTIONS = ["What is the usual constant in reciprocal rank fusion?", "How long should sourdough proof?",
             "Why prune sentences before a reasoning model reads them?"]


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory, embedder) -> tuple[Pipeline, Pipeline]:
    store = tmp_path_factory.mktemp("mirror") / "store"
    mirrored = Pipeline(Settings(store_path=store), embedder=embedder)
    mirrored.ingest([Path(__file__).resolve().parents[2] / "corpus"])
    return mirrored, Pipeline(Settings(store_path=store, vector_mirror_mb=0), embedder=embedder)


def test_the_mirror_holds_every_chunk_and_sentence(pipelines) -> None:
    mirrored, plain = pipelines
    snap = mirrored._lexical(mirrored.settings).snapshot()
    assert snap.vectors is not None and plain._lexical(plain.settings).snapshot().vectors is None
    store = mirrored.store()
    assert len(snap.vectors.ids) == store.count() and len(snap.vectors.sentences.vectors) == store.sentences.count()
    ids = list(snap.vectors.ids[:7])
    stored = store.sentence_vectors(ids)
    for cid in ids:
        vec, spans, sents = snap.vectors.evidence(snap.vectors.row[cid])
        assert spans == stored[cid][0]
        assert np.allclose(sents, stored[cid][1], atol=1e-6)
        assert np.allclose(vec, store.embeddings([cid])[cid], atol=1e-6)


@pytest.mark.parametrize("question", QUESTIONS)
def test_mirrored_search_and_context_equal_chromas(pipelines, question: str) -> None:
    mirrored, plain = pipelines
    a, b = mirrored.search(question, k=20), plain.search(question, k=20)
    assert [c.id for c in a] == [c.id for c in b]
    assert np.allclose([c.score for c in a], [c.score for c in b], atol=1e-5)
    ca, cb = mirrored.retrieve(question), plain.retrieve(question)
    assert [(p.id, p.text) for p in ca.passages] == [(p.id, p.text) for p in cb.passages]
    assert ca.tokens == cb.tokens > 0


def test_a_filter_still_goes_through_chroma(pipelines) -> None:
    mirrored, _ = pipelines
    source = mirrored.store().all_chunks()[0].source
    hits = mirrored.search(QUESTIONS[0], k=5, where={"source": source})
    assert hits and all(c.source == source for c in hits)


def test_an_empty_store_is_mirrored_and_searched(tmp_path, embedder) -> None:
    p = Pipeline(Settings(store_path=tmp_path / "empty"), embedder=embedder)
    p.store(create=True)
    snap = p._lexical(p.settings).snapshot()
    assert snap.vectors is not None and len(snap.vectors.ids) == 0
    assert p.search("anything", k=5) == [] and p.retrieve("anything").passages == []


def test_the_float16_shortlist_finds_the_exact_float32_top_k() -> None:
    from rag.index.mirror import VectorMirror

    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(3000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = tuple(f"c{i}" for i in range(len(vectors)))
    mirror = VectorMirror.build(ids, vectors, list(ids), [0] * len(ids), [(0, 1)] * len(ids), vectors)
    for _ in range(20):
        q = rng.normal(size=64).astype(np.float32)
        q /= np.linalg.norm(q)
        exact = vectors @ q
        want = np.argsort(-exact, kind="stable")[:30]
        got = mirror.nearest(q, 30)
        assert [r for r, _ in got] == want.tolist()
        assert np.allclose([s for _, s in got], exact[want], atol=1e-6)
        assert [r for r, _ in mirror.nearest_sentences(q, 30)] == want.tolist()
    assert mirror.half.dtype == np.float16 and mirror.nearest(q, 0) == []
