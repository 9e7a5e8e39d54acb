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


def test_a_large_stores_bm25_is_saved_and_mapped_by_the_next_process(tmp_path, embedder, monkeypatch) -> None:  # noqa: ANN001
    from rag.index.store import Store

    path = tmp_path / "store"
    p = Pipeline(Settings(store_path=path, vector_mirror_mb=0.0), embedder=embedder)  # 0: never held whole
    p.ingest_documents([Document(id=f"d{i}", source=f"api:{i}", title="", text=f"{kind.capitalize()}.")
                        for i, kind in enumerate(ANIMALS)])
    first = LexicalCache(p.store(), k1=0.9, b=0.4)
    assert first.snapshot().chunks == ()  # only BM25 is kept in memory
    folder = first.saved_at(p.store().version())
    assert (folder / "meta.json").exists()

    def no_full_read(self: Store) -> None:
        raise AssertionError("the saved index should have been mapped, not rebuilt from the store")

    monkeypatch.setattr(Store, "lexical_texts", no_full_read)
    again = LexicalCache(p.store(), k1=0.9, b=0.4)  # what a new process does
    assert again.get().search("lay eggs", 3) == first.get().search("lay eggs", 3)
    assert again.get().df == first.get().df and again.get().n == len(ANIMALS)
    qvec = embedder.encode(["Which animal lays eggs?"])[0]
    got = first_stage("Which animal lays eggs?", qvec, p.store(), again, FusionConfig(depth=3))
    assert got[0].text == "Platypuses lay eggs in river banks." and got[0].scores["lexical_rank"] == 0.0
    # another BM25 setting is another index: it is built, not the saved one misread
    monkeypatch.undo()
    assert LexicalCache(p.store(), k1=1.5, b=0.75).saved_at(p.store().version()) != folder

    p.ingest_documents([Document(id="d9", source="api:9", title="", text="Echidnas lay eggs too.")])
    newer = LexicalCache(p.store(), k1=0.9, b=0.4)
    (row, _), = newer.get().search("echidnas", 2)
    assert p.store().chunks([str(newer.get().ids[row])])[0].doc_id == "d9"
    assert not folder.exists() and newer.saved_at(p.store().version()).exists()  # the stale one went


def test_a_damaged_saved_index_is_rebuilt_not_trusted(tmp_path, embedder) -> None:  # noqa: ANN001
    p = Pipeline(Settings(store_path=tmp_path / "store", vector_mirror_mb=0.0), embedder=embedder)
    p.ingest_documents([Document(id=f"d{i}", source=f"api:{i}", title="", text=f"{kind.capitalize()}.")
                        for i, kind in enumerate(ANIMALS)])
    saved = LexicalCache(p.store(), k1=0.9, b=0.4)
    saved.get()
    folder = saved.saved_at(p.store().version())
    (folder / "meta.json").write_text("{not json")
    rebuilt = LexicalCache(p.store(), k1=0.9, b=0.4).get()
    assert rebuilt.n == len(ANIMALS) and rebuilt.search("wombats", 1)


def test_ingesting_files_saves_a_large_stores_index_before_any_question(tmp_path, embedder) -> None:  # noqa: ANN001
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, kind in enumerate(ANIMALS):
        (docs / f"{i}.txt").write_text(f"{kind.capitalize()}.\n")
    large = Pipeline(Settings(store_path=tmp_path / "large", vector_mirror_mb=0.0), embedder=embedder)
    large.ingest([docs])
    assert LexicalCache(large.store(), k1=0.9, b=0.4).saved_at(large.store().version()).exists()
    small = Pipeline(Settings(store_path=tmp_path / "small"), embedder=embedder)
    small.ingest([docs])
    assert not (tmp_path / "small.derived").exists()  # a store held whole saves nothing
