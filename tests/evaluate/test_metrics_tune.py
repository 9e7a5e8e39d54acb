"""Ranking metrics against ranx, distractors and gold position, overcomplication, and rag tune."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from rag import Pipeline, Settings
from rag.evaluate.datasets import Question, hotpotqa
from rag.evaluate.experiment import Spec, run_experiment
from rag.evaluate.manipulate import Manipulation, apply, distractor_share, is_gold
from rag.evaluate.metrics import mrr_at, ndcg_at, rank_metrics, ranking_metrics, recall_at
from rag.evaluate.report import overcomplication, toggle_effects, within_slope, write_report
from rag.evaluate.results import read_rows
from rag.evaluate.tune import check, choose, run_tune
from rag.tokens import count_tokens
from tests.conftest import CORPUS, ROOT

HOTPOT = ROOT.parent / "shared" / "data" / "hotpotqa-distractor-sample" / "hotpotqa_distractor_sample.jsonl"


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


def _q(**kw) -> Question:
    return Question("q1", "Who built the bridge?", **kw)


def test_gold_and_distractor_share() -> None:
    from rag.types import Passage

    def p(pid: str, doc: str, text: str) -> Passage:
        return Passage(pid, doc, "", "", text, 0.5, [(0, len(text))], 0)

    q = _q(answers=["Eiffel"], relevant={"d1": 1})
    gold, other = p("1", "d1", "A bridge."), p("2", "d9", "Cats sleep a lot.")
    answer_elsewhere = p("3", "d5", "Eiffel.")
    assert is_gold("d1", "x", q) and is_gold("d5", "by Eiffel", q) and not is_gold("d9", "cats", q)
    share = distractor_share([gold, other, answer_elsewhere], q, count_tokens)
    assert share == pytest.approx(count_tokens(other.text) / sum(count_tokens(x.text) for x in (gold, other,
                                                                                              answer_elsewhere)))
    assert distractor_share([gold], q, count_tokens) == 0.0
    assert distractor_share([], q, count_tokens) is None
    with pytest.raises(ValueError, match="gold_position"):
        Manipulation(gold_position="top")
    m, rest = Manipulation.split({"distractors": 2, "token_budget": 60})
    assert m.distractors == 2 and rest == {"token_budget": 60}


@pytest.mark.integration
def test_distractors_and_gold_position_on_hotpotqa(embedder) -> None:
    q = hotpotqa(HOTPOT)[0]
    p = Pipeline(Settings(store_path="/nonexistent"), embedder=embedder)
    ctx = p.retrieve(q.text, passages=q.passages)
    assert [c.doc_id for c in ctx.pool][:1] and ctx.pool[0].score >= ctx.pool[-1].score
    assert rank_metrics([c.doc_id for c in ctx.pool], q.relevant)["recall@10"] == 1.0  # 10 paragraphs, all ranked
    lean_share = distractor_share(ctx.passages, q, count_tokens)

    hard = apply(ctx, q, Manipulation(distractors=2), count=count_tokens)
    added = hard.passages[len(ctx.passages):]
    assert len(added) == 2 and all(not is_gold(x.doc_id, x.text, q) for x in added)
    kept_ids = {x.id for x in ctx.passages}
    best_dropped = [c.id for c in ctx.pool if c.id not in kept_ids and c.doc_id not in q.relevant][:2]
    assert [x.id for x in added] == best_dropped                      # hard = best-ranked non-gold left out
    assert hard.tokens > ctx.tokens and distractor_share(hard.passages, q, count_tokens) > lean_share
    assert "2 hard distractor(s)" in hard.trace.stages[-1].note
    assert all(st.name != "experiment" for st in ctx.trace.stages)  # the input context is left as it was

    from rag.evaluate.experiment import RandomPassages

    others = hotpotqa(HOTPOT)[1:6]

    rnd = RandomPassages([q, *others], p)
    r1 = apply(p.retrieve(q.text, passages=q.passages), q, Manipulation(3, "random"), count=count_tokens,
               random_pool=rnd)
    r2 = apply(p.retrieve(q.text, passages=q.passages), q, Manipulation(3, "random"), count=count_tokens,
               random_pool=rnd)
    own = {x["id"] for x in q.passages}
    new = [x.id for x in r1.passages if x.id not in own]
    assert len(new) == 3 and new == [x.id for x in r2.passages if x.id not in own]  # seeded by question

    for where in ("start", "middle", "end"):
        moved = apply(p.retrieve(q.text, passages=q.passages), q, Manipulation(4, "hard", where),
                      count=count_tokens)
        flags = [is_gold(x.doc_id, x.text, q) for x in moved.passages]
        n, g = len(flags), sum(flags)
        at = {"start": 0, "middle": (n - g) // 2, "end": n - g}[where]
        assert g >= 1 and flags[at:at + g] == [True] * g, (where, flags)
        assert moved.tokens == count_tokens(moved.text)


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


def test_tune_choice_and_spec_checks() -> None:
    summary = [{"config": "a", "ndcg@10": 0.70, "context_tokens_median": 100},
               {"config": "b", "ndcg@10": 0.74, "context_tokens_median": 300},
               {"config": "c", "ndcg@10": 0.70, "context_tokens_median": 80}]
    assert choose(summary, "ndcg@10", None)["config"] == "b"
    assert choose(summary, "ndcg@10", 150)["config"] == "c"          # within the ceiling, fewer tokens on a tie
    with pytest.raises(ValueError, match="within 50"):
        choose(summary, "ndcg@10", 50)
    with pytest.raises(ValueError, match="not a summary column"):
        choose(summary, "ndgc", None)
    with pytest.raises(ValueError, match="objective"):
        check(Spec("t", {"kind": "corpus"}, grid={"token_budget": [60]}))


@pytest.mark.integration
def test_tune_reingests_per_chunking_once_and_reports_on_test(tmp_path: Path, embedder) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    Pipeline(Settings(store_path=tmp_path / "store"), embedder=embedder).ingest([tmp_path / "corpus"])
    spec = Spec("tiny-tune", {"kind": "corpus", "path": str(tmp_path / "corpus" / "questions.jsonl"),
                              "store": str(tmp_path / "store"), "corpus": str(tmp_path / "corpus")},
                {"answerer": "extractive"}, {"chunk_size": [120, 200], "token_budget": [40, 130]},
                tune={"objective": "answer_kept", "train": {"limit": 10}, "test": {"offset": 10, "limit": 8}})
    made: list[Pipeline] = []

    def factory(s: Settings) -> Pipeline:
        made.append(Pipeline(s, embedder=embedder))
        return made[-1]

    res = run_tune(spec, tmp_path / "out", pipeline_factory=factory, progress=False)
    stores = sorted(x.name for x in (tmp_path / "out" / "stores").iterdir())
    assert stores == ["chunks-120-24", "chunks-200-24"]
    assert len(res.train) == 4 and {r["questions"] for r in res.train} == {10}
    best = max(r["answer_kept"] for r in res.train)
    assert next(r for r in res.train if r["config"] == res.best)["answer_kept"] == best
    assert [r["config"] for r in res.test] == ["defaults", "tuned"] and {r["questions"] for r in res.test} == {8}
    test_qids = {r["qid"] for r in read_rows(tmp_path / "out" / "test" / "results.jsonl")}
    train_qids = {r["qid"] for r in read_rows(tmp_path / "out" / "train" / "results.jsonl")}
    assert not test_qids & train_qids                                 # test questions never seen while tuning
    text = (tmp_path / "out" / "report.md").read_text()
    assert res.best in text and "Tuned minus defaults" in text
    assert "token_budget" in (tmp_path / "out" / "best.toml").read_text()
    # a rerun finds both chunkings ingested: nothing is embedded again
    made.clear()
    run_experiment(Spec("again", spec.dataset, spec.settings, {"chunk_size": [120, 200]}), tmp_path / "again",
                   pipeline_factory=factory, progress=False, stores=tmp_path / "out" / "stores")
    reports = [m.ingest([tmp_path / "corpus"]) for m in made]
    assert len(reports) == 2 and all(r.embedded == 0 for r in reports)
    assert write_report(tmp_path / "again").exists()
    assert json.loads((tmp_path / "again" / "spec.json").read_text())["grid"] == {"chunk_size": [120, 200]}


def test_tune_cli_refuses_a_spec_without_objective(tmp_path: Path) -> None:
    import subprocess
    import sys

    spec = tmp_path / "t.toml"
    spec.write_text('name = "t"\n[dataset]\nkind = "corpus"\npath = "q.jsonl"\n[grid]\ntoken_budget = [60]\n')
    r = subprocess.run([sys.executable, "-m", "rag.cli", "tune", str(spec), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "objective" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()                               # refused before any work
