"""Fusion of the first-stage rankings, on hand-made lists."""
from __future__ import annotations

import pytest

from rag.retrieve.candidates import FusionConfig, fuse


def test_rrf_sums_reciprocal_ranks_and_rewards_agreement() -> None:
    cfg = FusionConfig(fusion="rrf", rrf_k=60)
    out = fuse([["a", "b"], ["b", "c"], []], [{}, {}, {}], cfg)
    assert out["a"] == pytest.approx(1 / 61)
    assert out["b"] == pytest.approx(1 / 62 + 1 / 61)  # found by two retrievers: first overall
    assert out["c"] == pytest.approx(1 / 62)
    assert max(out, key=out.__getitem__) == "b"


def test_rrf_weights_scale_each_list() -> None:
    cfg = FusionConfig(fusion="rrf", rrf_k=0, weights=(1.0, 0.0, 2.0))
    out = fuse([["a"], ["b"], ["c"]], [{}, {}, {}], cfg)
    assert out == pytest.approx({"a": 1.0, "b": 0.0, "c": 2.0})


def test_weighted_fusion_max_normalises_each_list() -> None:
    cfg = FusionConfig(fusion="weighted", weights=(1.0, 1.0, 0.5))
    lists = [["a", "b", "c"], ["c"], ["b", "a"]]
    scores = [{"a": 0.9, "b": 0.5, "c": 0.1}, {"c": 0.3}, {"b": 12.0, "a": 2.0}]
    out = fuse(lists, scores, cfg)
    assert out["a"] == pytest.approx(1.0 + 0.5 * 0.0)
    assert out["b"] == pytest.approx(0.5 + 0.5 * 1.0)
    assert out["c"] == pytest.approx(0.0 + 1.0)  # a list of one scores its only member 1


def test_unknown_fusion_is_named() -> None:
    with pytest.raises(ValueError, match="unknown fusion 'max'"):
        fuse([["a"], [], []], [{"a": 1.0}, {}, {}], FusionConfig(fusion="max"))
