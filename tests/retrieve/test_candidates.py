"""The first stage over a real store: the in-memory mirror and Chroma's HNSW agree, filters hold, and every
candidate carries the signals that found it."""
from __future__ import annotations

import pytest

from rag import Pipeline, Settings
from rag.retrieve.candidates import FusionConfig, LexicalCache, first_stage
from rag.types import Document

pytestmark = pytest.mark.integration

ANIMALS = ["quokkas hop on Rottnest Island", "wombats dig burrows in the bush", "koalas sleep in gum trees",
           "platypuses lay eggs in river banks", "emus run across the plains", "kangaroos box each other"]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory, embedder):  # noqa: ANN201
    path = tmp_path_factory.mktemp("candidates") / "store"
    Pipeline(Settings(store_path=path), embedder=embedder).ingest_documents(
        [Document(id=f"d{i}", source=f"api:{kind.split()[0]}", title=kind.split()[0].title(),
                  text=f"{kind.capitalize()}. They are animals of Australia number {i}.")
         for i, kind in enumerate(ANIMALS)])
    return path


def _first(store_path, embedder, mirror_mb: float, where: dict | None = None,  # noqa: ANN001
           **cfg: object) -> list:
    p = Pipeline(Settings(store_path=store_path, vector_mirror_mb=mirror_mb), embedder=embedder)
    question = "Which animal lays eggs?"
    qvec = embedder.encode([question])[0]
    lexical = LexicalCache(p.store(), k1=0.9, b=0.4, mirror_mb=mirror_mb)
    return first_stage(question, qvec, p.store(), lexical, FusionConfig(depth=4, **cfg), where)  # type: ignore[arg-type]


def test_the_mirror_and_hnsw_find_the_same_candidates(store_path, embedder) -> None:
    mirrored = _first(store_path, embedder, 1024.0)
    hnsw = _first(store_path, embedder, 0.0)
    assert [c.id for c in mirrored] == [c.id for c in hnsw] and len(mirrored) == 4
    assert mirrored[0].text.startswith("Platypuses lay eggs")
    for a, b in zip(mirrored, hnsw, strict=True):
        assert a.scores["fused"] == pytest.approx(b.scores["fused"])
        assert a.scores["dense"] == pytest.approx(b.scores["dense"], abs=1e-4)


def test_candidates_are_fused_best_first_with_the_signals_that_found_them(store_path, embedder) -> None:
    got = _first(store_path, embedder, 1024.0)
    fused = [c.scores["fused"] for c in got]
    assert fused == sorted(fused, reverse=True)
    top = got[0].scores
    assert {"dense", "dense_rank", "sentence", "sentence_rank", "lexical", "lexical_rank"} <= set(top)
    assert top["lexical_rank"] == 0.0  # "eggs" is in one chunk only
    assert not any("lexical" in c.scores for c in _first(store_path, embedder, 1024.0, lexical=False))


def test_a_filter_holds_in_every_retriever(store_path, embedder) -> None:
    got = _first(store_path, embedder, 1024.0, where={"source": "api:koalas"})
    assert [c.source for c in got] == ["api:koalas"]
