"""The report's statistics: overcomplication slopes, toggle effects, the paired bootstrap and run
comparison (rag/evaluate/report.py)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rag.evaluate.experiment import Spec
from rag.evaluate.report import compare, overcomplication, paired_bootstrap, toggle_effects, within_slope


def _fake_run(folder: Path, scores: list[float], grid: dict | None = None) -> Path:
    folder.mkdir(parents=True)
    rows = [{"config": "base", "qid": f"q{i}", "f1": s, "context_tokens": 100} for i, s in enumerate(scores)]
    (folder / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (folder / "spec.json").write_text(json.dumps({"name": folder.name, "dataset": {"kind": "corpus"},
                                                  "settings": {}, "grid": grid or {}}))
    return folder


def test_overcomplication_by_hand() -> None:
    rows = []
    for i in range(40):
        # 1,000 more context tokens cost 50 more reasoning tokens and 200 ms, and buy no accuracy
        for ctx, reasoning, ms in ((100, 300 + i, 1000), (1100, 350 + i, 1200)):
            rows.append({"config": f"token_budget={ctx}", "qid": f"q{i}", "context_tokens": ctx + i,
                         "f1": 0.5 + (i % 2) * 0.1, "reasoning_tokens": reasoning, "latency_ms": ms,
                         "completion_tokens": reasoning + 10, "answer_tokens": 10})
    (o,) = overcomplication(rows, "f1")
    assert o["baseline"] == "token_budget=100" and o["added_context_tokens"] == pytest.approx(1000)
    assert o["reasoning_tokens_per_1k"] == pytest.approx(50) and o["latency_ms_per_1k"] == pytest.approx(200)
    assert o["answer_tokens_per_1k"] == 0 and o["equal_accuracy"] and o["metric_change"] == 0
    assert within_slope(rows, "reasoning_tokens") == pytest.approx(50)
    # a hard question with a long context is not an effect of the context: slope within questions only
    assert within_slope([{"qid": "a", "context_tokens": 100, "x": 1}, {"qid": "b", "context_tokens": 5000, "x": 900}],
                        "x") is None


def test_toggle_names_with_lists() -> None:
    grid = {"ingest_exclude": [["a.md"], ["a.md", "b.md"]], "candidate_depth": [20, 60]}
    spec = Spec("t", {"kind": "corpus"}, grid=grid)
    rows = [{"config": n, "qid": f"q{i}", "ndcg@10": 0.5 + 0.1 * (len(o["ingest_exclude"]) == 2)}
            for n, o in spec.configurations() for i in range(5)]
    effects = toggle_effects(rows, grid, "ndcg@10")
    assert effects[0]["diff"] == pytest.approx(0.1) and effects[0]["n"] == 10 and effects[1]["diff"] == 0


def test_paired_bootstrap_tells_different_from_equal() -> None:

    rng = random.Random(1)
    a = [rng.random() for _ in range(200)]
    better = [x + 0.1 + rng.gauss(0, 0.05) for x in a]
    same = [x + rng.gauss(0, 0.05) for x in a]
    r = paired_bootstrap(a, better)
    assert r["p"] < 0.001 and 0.09 < r["diff"] < 0.11 and r["low"] > 0
    r = paired_bootstrap(a, same)
    assert r["p"] > 0.05 and r["low"] < 0 < r["high"]
    assert paired_bootstrap(a, a)["p"] == 1.0


def test_compare_runs_known_to_differ_and_known_equal(tmp_path: Path) -> None:

    rng = random.Random(3)
    base = [rng.random() for _ in range(120)]
    a = _fake_run(tmp_path / "a", base)
    b = _fake_run(tmp_path / "b", [min(1.0, x + 0.2) for x in base])
    c = _fake_run(tmp_path / "c", list(base))
    (better,) = compare(a, b)
    assert better["verdict"] == "B better" and better["p"] < 0.001
    (equal,) = compare(a, c)
    assert equal["verdict"] == "no significant difference" and equal["p"] == 1.0
    (worse,) = compare(b, a)
    assert worse["verdict"] == "B worse"


def test_toggle_effect_pairs_configs_that_differ_in_one_key() -> None:
    rows = []
    for q in range(30):
        for budget, bonus in ((60, 0.0), (130, 0.5)):
            for prune in (True, False):
                rows.append({"config": f"token_budget={budget},sentence_prune={json.dumps(prune)}", "qid": f"q{q}",
                             "f1": 0.2 + bonus})
    effects = toggle_effects(rows, {"token_budget": [60, 130], "sentence_prune": [True, False]}, "f1")
    assert effects[0]["toggle"] == "token_budget: 60 -> 130" and effects[0]["diff"] == pytest.approx(0.5)
    assert effects[0]["n"] == 60 and effects[1]["diff"] == 0.0
