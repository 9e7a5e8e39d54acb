"""What pruning takes: a candidate's kept sentences as runs of its text, the texts a step adds, cosines
with missing vectors, and a config that carries the settings' values (not defaults of its own)."""
from __future__ import annotations

import numpy as np

from rag.retrieve.selection import Selection, added_texts, pairwise_cosines
from rag.types import Candidate

TEXT = "One. Two. Three."
CAND = Candidate("c", TEXT, sentences=[(0, 4), (5, 9), (10, 16)])


def test_kept_sentences_join_into_runs_of_the_text() -> None:
    assert Selection(CAND, [0, 1]).runs() == [(0, 9)]
    assert Selection(CAND, [0, 2]).text() == "One. Three."
    assert Selection(CAND, [2]).sentence_texts() == ["Three."]
    whole = Candidate("w", "No sentences")
    assert Selection(whole, [0]).runs() == [(0, 12)] and Selection(whole, []).runs() == []


def test_added_texts_are_only_what_a_step_added() -> None:
    assert added_texts(Selection(CAND, [0, 2]), [0]) == ["Three."]
    whole = Candidate("w", "No sentences")
    assert added_texts(Selection(whole, [0]), []) == ["No sentences"] and added_texts(Selection(whole, [0]), [0]) == []


def test_cosines_of_items_without_a_vector_are_minus_infinity() -> None:
    v = np.array([1.0, 0.0], np.float32)
    sims, has = pairwise_cosines([Selection(CAND, [0], v), Selection(CAND, [0], None), Selection(CAND, [0], v)])
    assert has == [True, False, True] and abs(sims[0, 2] - 1.0) < 1e-6
    assert np.isneginf(sims[1]).all() and np.isneginf(sims[:, 1]).all()
    none, _ = pairwise_cosines([Selection(CAND, [0])])
    assert np.isneginf(none).all()


