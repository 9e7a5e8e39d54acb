"""Ranking, context and answer metrics against hand-computed cases and ranx (rag/evaluate/metrics.py)."""
from __future__ import annotations

import random

import pytest

from rag.evaluate.metrics import (
    answer_contains,
    exact_match,
    mrr_at,
    ndcg_at,
    normalize_answer,
    rank_metrics,
    ranking_metrics,
    recall_at,
    token_f1,
)


def test_rank_metrics_by_hand() -> None:
    rel = {"a": 1, "b": 2}
    # ranks: x, b (gain 2, log2 3), a (gain 1, log2 4); ideal: b, a
    expected = (2 / 1.5849625 + 1 / 2) / (2 + 1 / 1.5849625)
    assert ndcg_at(["x", "b", "a"], rel) == pytest.approx(expected, rel=1e-6)
    assert recall_at(["x", "b", "a"], rel, k=2) == 0.5 and recall_at(["x"], rel) == 0.0
    assert mrr_at(["x", "y", "a"], rel) == pytest.approx(1 / 3) and mrr_at(["x"], rel) == 0.0
    # a document seen twice (two chunks) counts once, at its best rank
    assert rank_metrics(["b", "b", "a"], rel)["ndcg@10"] == pytest.approx(1.0)


def test_context_metrics_by_hand() -> None:
    from rag.evaluate.metrics import answer_kept, support_recall

    ctx = "Ada wrote the first program. It ran on the Analytical Engine."
    assert answer_kept(ctx, ["Babbage", "Analytical Engine"]) and not answer_kept(ctx, ["analytical engine"])
    assert support_recall(ctx, ["Ada wrote the first program.", "It was 1843."]) == 0.5
    assert support_recall(ctx, []) == 1.0


def test_rank_metrics_equal_ranx_on_random_runs() -> None:
    rng = random.Random(5)
    docs = [f"d{i}" for i in range(80)]
    qrels, run = {}, {}
    for q in range(60):
        qrels[f"q{q}"] = {d: rng.choice([1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 6))}
        ranked = rng.sample(docs, rng.randint(1, 70))
        run[f"q{q}"] = {d: 100.0 - i for i, d in enumerate(ranked)}  # distinct scores: no tie order to argue
    ours = {m: sum(rank_metrics(list(run[q]), qrels[q])[m] for q in qrels) / len(qrels)
            for m in ("ndcg@10", "recall@10", "recall@50", "mrr@10")}
    theirs = ranking_metrics(qrels, run)
    for m, v in ours.items():
        assert v == pytest.approx(theirs[m], abs=1e-9), m


def test_answer_metrics_by_hand() -> None:
    assert normalize_answer("The  Denver Broncos! [1]") == "denver broncos"
    assert exact_match("the Denver Broncos.", ["Denver Broncos"]) and not exact_match("Broncos", ["Denver Broncos"])
    # pred {denver, broncos, won}, gold {denver, broncos}: P = 2/3, R = 1, F1 = 0.8
    assert token_f1("Denver Broncos won", ["Denver Broncos"]) == pytest.approx(0.8)
    assert token_f1("Paris", ["London", "Paris"]) == 1.0 and token_f1("", ["x"]) == 0.0
    assert answer_contains("It was the Denver Broncos [2].", ["denver broncos"])
    assert not answer_contains("Carolina", ["Denver Broncos"])
