"""The Chroma store on its own (embedded, real Chroma): writes, reads, deletes and the model check."""
from __future__ import annotations

import numpy as np
import pytest

from rag.index.store import Store, StoreConfig, StoreError
from rag.types import Chunk

DIM = 4


def unit(*v: float) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def chunk(cid: str, text: str, doc: str = "d1") -> Chunk:
    return Chunk(cid, doc, f"{doc}.md", f"Title {doc}", text, 0, 0, len(text), 5)


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(StoreConfig(tmp_path / "store", "docs"), model="m", dimension=DIM)
    a, b = chunk("d1#0", "First sentence. Second one."), chunk("d2#0", "Other text here.", doc="d2")
    s.upsert([a, b], np.stack([unit(1, 0, 0, 0), unit(0, 1, 0, 0)]), [{"sentences": 2}, {"sentences": 1}],
             [[(0, 15), (16, 27)], [(0, 16)]],
             np.stack([unit(1, 0.1, 0, 0), unit(1, 0, 0.1, 0), unit(0, 1, 0, 0.1)]))
    return s


def test_query_reads_back_chunks_nearest_first(store: Store) -> None:
    hits = store.query(unit(0.9, 0.1, 0, 0), 2)
    assert [c.id for c, _ in hits] == ["d1#0", "d2#0"] and hits[0][1] > hits[1][1]
    first = hits[0][0]
    assert (first.doc_id, first.source, first.title, first.text) == ("d1", "d1.md", "Title d1",
                                                                     "First sentence. Second one.")
    cosine = float(unit(0, 1, 0, 0) @ unit(0, 1, 0, 0.1))
    assert store.query_sentences(unit(0, 1, 0, 0), 1) == [("d2#0", pytest.approx(cosine, abs=1e-4))]


def test_sentence_vectors_come_back_in_order_with_their_spans(store: Store) -> None:
    spans, vecs = store.sentence_vectors(["d1#0"])["d1#0"]
    assert spans == [(0, 15), (16, 27)] and vecs.shape == (2, DIM)
    assert float(vecs[0] @ unit(1, 0.1, 0, 0)) == pytest.approx(1.0, abs=1e-5)


def test_filters_chunks_and_embeddings(store: Store) -> None:
    assert store.matching({"doc_id": "d2"}) == {"d2#0"}
    assert [c.id for c in store.chunks(["d2#0", "missing"])] == ["d2#0"]
    assert set(store.embeddings(["d1#0"])) == {"d1#0"}
    assert store.query(unit(1, 0, 0, 0), 5, where={"doc_id": "d2"})[0][0].id == "d2#0"


def test_delete_takes_the_sentences_with_the_chunk(store: Store) -> None:
    store.delete(["d1#0"])
    assert store.count() == 1 and store.sentences.count() == 1
    assert store.sentence_vectors(["d1#0"]) == {} and store.sweep_sentences() == 0


def test_mirror_holds_what_chroma_holds(store: Store) -> None:
    chunks, mirror = store.mirror(max_bytes=1e6)
    assert [c.id for c in chunks] == ["d1#0", "d2#0"] and mirror is not None
    assert store.mirror(max_bytes=10)[1] is None  # over the ceiling: chunks only


def test_a_store_built_with_another_model_is_refused(store: Store, tmp_path) -> None:
    with pytest.raises(StoreError, match="built with m .dimension 4.*Re-index"):
        Store(StoreConfig(tmp_path / "store", "docs"), model="other", dimension=8)
    with pytest.raises(StoreError, match="no collection 'nope'.*rag ingest"):
        Store(StoreConfig(tmp_path / "store", "nope"), model="m", dimension=DIM, create=False)


def test_a_mismatched_sentence_count_is_refused(tmp_path) -> None:
    s = Store(StoreConfig(tmp_path / "s2", "docs"), model="m", dimension=DIM)
    with pytest.raises(ValueError, match="one sentence vector per sentence span"):
        s.upsert([chunk("x", "One. Two.")], np.stack([unit(1, 0, 0, 0)]), [{}], [[(0, 4), (5, 9)]],
                 np.stack([unit(1, 0, 0, 0)]))
    assert s.count() == 0


def test_a_write_over_chromas_batch_limit_is_stored_whole(tmp_path) -> None:
    """Two chunks of 3,000 one-word sentences: 6,000 sentence rows, over Chroma's 5,461 a call."""
    s = Store(StoreConfig(tmp_path / "big", "docs"), model="m", dimension=DIM)
    text = " ".join(["Yes."] * 3000)
    spans = [(i * 5, i * 5 + 4) for i in range(3000)]
    chunks = [chunk("a#0", text, doc="a"), chunk("b#0", text, doc="b")]
    rng = np.random.default_rng(0)
    sentences = rng.standard_normal((6000, DIM)).astype(np.float32)
    s.upsert(chunks, np.stack([unit(1, 0, 0, 0), unit(0, 1, 0, 0)]), [{"sentences": 3000}] * 2, [spans, spans],
             sentences / np.linalg.norm(sentences, axis=1, keepdims=True))
    assert s.count() == 2 and s.sentences.count() == 6000
    got_spans, vecs = s.sentence_vectors(["b#0"])["b#0"]
    assert got_spans == spans and vecs.shape == (3000, DIM)
