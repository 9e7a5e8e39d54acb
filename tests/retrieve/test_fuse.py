"""Fusion of the first-stage rankings, on hand-made lists."""
from __future__ import annotations

import pytest

from rag.retrieve.candidates import FusionConfig, fuse


def test_rrf_sums_reciprocal_ranks_and_rewards_agreement() -> None:
    out = fuse([["a", "b"], ["b", "c"], []], FusionConfig())
    assert out["a"] == pytest.approx(1 / 61)
    assert out["b"] == pytest.approx(1 / 62 + 1 / 61)  # found by two retrievers: first overall
    assert out["c"] == pytest.approx(1 / 62)
    assert max(out, key=out.__getitem__) == "b"


def test_every_list_counts_the_same_and_an_empty_one_adds_nothing() -> None:
    out = fuse([["a"], ["b"], ["c"]], FusionConfig(rrf_k=0))
    assert out == pytest.approx({"a": 1.0, "b": 1.0, "c": 1.0})
    assert fuse([[], [], []], FusionConfig()) == {}
