"""The BM25 index on its own: ranking, stemming-independent basics, masks and empty input."""
from __future__ import annotations

import numpy as np

from rag.index.lexical import LexicalIndex

TEXTS = ["Reciprocal rank fusion merges rankings.", "A token budget caps the context.",
         "The budget of a reasoning model covers hidden tokens.", "Sourdough needs flour and water."]


def test_rows_ranked_by_bm25_best_first_and_only_matches() -> None:
    ix = LexicalIndex(["a", "b", "c", "d"], TEXTS)
    hits = ix.search("token budget", k=10)
    assert [r for r, _ in hits][:2] == [1, 2] and 3 not in {r for r, _ in hits}
    assert all(s > 0 for _, s in hits) and hits[0][1] >= hits[1][1]
    assert ix.df and ix.n == 4


def test_rare_terms_weigh_more() -> None:
    ix = LexicalIndex(["a", "b", "c", "d"], TEXTS)
    (row, _), *_ = ix.search("hidden budget", k=1)
    assert row == 2  # "hidden" is in one text, "budget" in two


def test_a_mask_keeps_only_allowed_rows() -> None:
    ix = LexicalIndex(["a", "b", "c", "d"], TEXTS)
    hits = ix.search("budget", k=10, allowed=np.array([1, 0, 1, 1]))
    assert [r for r, _ in hits] == [2]


def test_empty_index_and_unknown_words_find_nothing() -> None:
    assert LexicalIndex([], []).search("budget", k=5) == []
    ix = LexicalIndex(["a", "b", "c", "d"], TEXTS)
    assert ix.search("quokka", k=5) == [] and ix.search("budget", k=0) == []
