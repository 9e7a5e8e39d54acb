"""The evidence source: stored chunks' vectors read once, caller passages encoded once, two bounded caches."""
from __future__ import annotations

import numpy as np
import pytest

from rag import Pipeline, Settings
from rag.retrieve.evidence import EvidenceSource
from rag.types import Candidate, Document

pytestmark = pytest.mark.integration


class Counting:
    """The real encoder, counting the texts it is asked to encode."""

    def __init__(self, embedder) -> None:  # noqa: ANN001
        self.embedder, self.texts = embedder, 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.embedder.encode(texts)


def _caller(i: int, sentences: int = 3) -> Candidate:
    text = " ".join(f"Passage {i} says fact {j} about quokkas." for j in range(sentences))
    return Candidate(id=f"p{i}", text=text)


def test_a_caller_passage_is_encoded_once_whatever_its_id(embedder) -> None:
    encode = Counting(embedder)
    ev = EvidenceSource(encode, max_mb=1, caller_mb=1)
    first = ev.computed([_caller(0)])["p0"]
    assert encode.texts == 1 + 3  # the passage and its three sentences
    again = ev.computed([Candidate(id="other-id", text=_caller(0).text)])["other-id"]
    assert encode.texts == 4 and again is first
    assert first.sentence_vectors.shape == (3, first.vector.shape[0])
    assert [first.spans[0][0], first.spans[-1][1]] == [0, len(_caller(0).text)]


def test_caller_passages_are_bounded_by_their_own_megabytes(embedder) -> None:
    ev = EvidenceSource(Counting(embedder), max_mb=1, caller_mb=0.02)  # ~13 vectors
    for i in range(10):
        ev.computed([_caller(i)])
    assert 0 < ev.nbytes <= 20_000
    assert len(ev) < 10 and ev.held("stored") == []


def test_a_flood_of_caller_passages_leaves_the_stored_evidence_alone(tmp_path, embedder) -> None:
    p = Pipeline(Settings(store_path=tmp_path / "s", vector_mirror_mb=0), embedder=embedder)
    p.ingest_documents([Document(id=f"d{i}", source=f"api:d{i}", title="",
                                 text=f"Note {i}: quokkas live on Rottnest Island. They eat leaves.")
                        for i in range(6)])
    stored = p.search("Where do quokkas live?", k=6)
    ev = EvidenceSource(Counting(embedder), max_mb=1, caller_mb=0.02)
    got = ev.stored(stored, p.store(), None)
    assert set(got) == {c.id for c in stored} and len(ev.held("stored")) == len(stored)
    for i in range(20):
        ev.computed([_caller(i)])
    assert len(ev.held("stored")) == len(stored)  # the caller cache evicts its own, never the store's
    before = ev.stats()["evidence"]
    ev.stored(stored, p.store(), None)
    hits, lookups = ev.stats()["evidence"]
    assert (hits - before[0], lookups - before[1]) == (len(stored), len(stored))
