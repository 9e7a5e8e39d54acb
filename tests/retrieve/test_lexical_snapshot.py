"""The BM25 index and its chunk list travel together: retrieval during ingests never mixes them."""
from __future__ import annotations

import threading

import pytest

from rag import Pipeline, Settings
from rag.types import Document

pytestmark = pytest.mark.integration


def _docs(round_: int) -> list[Document]:
    return [Document(id=f"d{i}", source=f"api:d{i}", title="",
                     text=f"Round {round_} note {i}: quokkas live on Rottnest Island and eat leaves number {i}.")
            for i in range(round_ % 3, round_ % 3 + 12)]


def test_a_snapshot_pairs_ids_with_their_own_chunks(tmp_path, embedder) -> None:
    p = Pipeline(Settings(store_path=tmp_path / "s"), embedder=embedder)
    p.ingest_documents(_docs(0))
    cache = p._lexical(p.settings)
    cache.refresh = 0.0
    before = cache.snapshot()
    p.ingest_documents(_docs(1))
    after = cache.snapshot()
    assert before.index is not after.index
    for snap in (before, after):
        assert [c.id for c in snap.chunks] == list(snap.index.ids)


def test_retrieval_during_ingests_returns_texts_of_their_own_ids(tmp_path, embedder) -> None:
    p = Pipeline(Settings(store_path=tmp_path / "s", sentence_prune=False, evidence_mass=None), embedder=embedder)
    p.ingest_documents(_docs(0))
    p._lexical(p.settings).refresh = 0.0
    known: dict[str, str] = {}
    lock = threading.Lock()

    def remember() -> None:
        got = p.store().collection.get(include=["documents"])
        with lock:
            known.update(zip(got["ids"], got["documents"], strict=True))

    remember()
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for r in range(1, 9):
                p.ingest_documents(_docs(r))
                remember()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=writer)
    t.start()
    seen = 0
    while not done.is_set() or seen == 0:
        for c in p.search("Where do quokkas live?", k=20):
            with lock:
                if c.id in known:
                    assert c.text == known[c.id], c.id
                    seen += 1
    t.join()
    assert not errors and seen > 0
