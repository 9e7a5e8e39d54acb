"""rag tune: the choice on train, the spec checks, one ingest per chunking, the report on test
(rag/evaluate/tune.py)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag import Pipeline, Settings
from rag.evaluate.experiment import Spec, run_experiment
from rag.evaluate.report import write_report
from rag.evaluate.results import read_rows
from rag.evaluate.tune import check, choose, run_tune
from tests.conftest import CORPUS


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

    spec = tmp_path / "t.toml"
    spec.write_text('name = "t"\n[dataset]\nkind = "corpus"\npath = "q.jsonl"\n[grid]\ntoken_budget = [60]\n')
    r = subprocess.run([sys.executable, "-m", "rag.cli", "tune", str(spec), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "objective" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()                               # refused before any work
