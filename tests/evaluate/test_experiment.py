"""Experiments (rag/evaluate/experiment.py): the spec checked before any work, resume after a kill, model calls
cached, shipped specs that score what they retrieve."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag import Pipeline, Settings
from rag.evaluate.experiment import Spec
from rag.evaluate.results import read_rows, summarize
from tests.conftest import CORPUS

EXPERIMENTS = CORPUS.parent / "experiments"  # shipped specs' paths start from their folder


def test_spec_is_validated_before_any_work(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[dataset]\nkind = "corpus"\n[grid]\ntoken_budget = [0]\n')
    with pytest.raises(Exception, match="token_budget"):
        Spec.load(bad)
    yml = tmp_path / "ok.yaml"
    yml.write_text("name: y\ndataset: {kind: corpus, path: q.jsonl}\ngrid: {token_budget: [60, 130]}\n")
    assert [n for n, _ in Spec.load(yml).configurations()] == ["token_budget=60", "token_budget=130"]


def _tiny_spec(tmp_path: Path, embedder, *, limit: int, settings: str = "") -> Path:  # noqa: ANN001
    """The sample corpus ingested into tmp_path/store, and a spec over its first ``limit`` questions
    (extractive, token_budget 60 and 130); ``settings``: extra TOML lines for [settings]."""
    shutil.copytree(CORPUS, tmp_path / "corpus")
    Pipeline(Settings(store_path=tmp_path / "store"), embedder=embedder).ingest([tmp_path / "corpus"])
    spec = tmp_path / "tiny.toml"
    spec.write_text(f'name = "tiny"\n[dataset]\nkind = "corpus"\npath = "{tmp_path}/corpus/questions.jsonl"\n'
                    f'store = "{tmp_path}/store"\nlimit = {limit}\n[settings]\nanswerer = "extractive"\n'
                    f'{settings}[grid]\ntoken_budget = [60, 130]\n')
    return spec


@pytest.mark.integration
def test_killed_run_resumes_to_the_same_summary(tmp_path: Path, embedder) -> None:
    spec = _tiny_spec(tmp_path, embedder, limit=8)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}

    def run(out: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "rag.cli", "experiment", "run", str(spec), "--out", str(out)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    killed = tmp_path / "killed"
    proc = run(killed)
    deadline = time.time() + 300
    while len(read_rows(killed / "results.jsonl")) < 5:
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 5 <= len(read_rows(killed / "results.jsonl")) < 16
    assert run(killed).wait(timeout=300) == 0                       # resume
    clean = tmp_path / "clean"
    assert run(clean).wait(timeout=300) == 0

    def quality(folder: Path) -> list[dict]:
        with (folder / "summary.csv").open() as f:
            return [{k: v for k, v in r.items() if k != "latency_ms_median"} for r in csv.DictReader(f)]

    assert quality(killed) == quality(clean) and len(quality(clean)) == 2
    assert len({(r["config"], r["qid"]) for r in read_rows(killed / "results.jsonl")}) == 16
    assert summarize(read_rows(killed / "results.jsonl"))[0]["questions"] == 8
    assert (killed / "report.md").exists() and (killed / "accuracy_vs_tokens.png").exists()
    env_info = json.loads((clean / "environment.json").read_text())
    assert env_info["packages"]["chromadb"] and env_info["embedding_model"]


def test_model_calls_are_cached_by_request(tmp_path: Path, embedder, llm) -> None:
    from rag.evaluate.experiment import run_experiment
    from tests.fake_openai import API_KEY

    # the shipped reasoning-model spec, pointed at the test server and cut to 3 questions
    spec = Spec.load(CORPUS.parent / "experiments" / "reasoning-model.toml")
    spec.dataset.update(limit=3)
    spec.settings.update(llm_base_url=llm.url, llm_model="o3-mini")
    spec.grid = {"token_budget": [130, 350]}

    def factory(settings: Settings) -> Pipeline:
        return Pipeline(settings.replace(llm_api_key=API_KEY), embedder=embedder)

    out = tmp_path / "run"
    run_experiment(spec, out, pipeline_factory=factory, base=EXPERIMENTS, progress=False)
    first = len(llm.requests())
    rows = read_rows(out / "results.jsonl")
    # 6 answers; a context that two budgets both produce is one request, asked once
    assert len(rows) == 6 and first + sum(bool(r.get("cached_call")) for r in rows) == 6
    assert all(r["reasoning_tokens"] > 0 and r["support_recall"] is not None for r in rows)
    (out / "results.jsonl").unlink()                              # a full rerun, same folder
    run_experiment(spec, out, pipeline_factory=factory, base=EXPERIMENTS, progress=False)
    assert len(llm.requests()) == first                           # every answer came from the cache
    assert [r["answer"] for r in read_rows(out / "results.jsonl")] == [r["answer"] for r in rows]


def test_a_failed_model_call_costs_one_question_and_is_retried(tmp_path: Path, embedder, llm) -> None:
    from rag.evaluate.experiment import run_experiment
    from tests.fake_openai import API_KEY

    spec = Spec.load(CORPUS.parent / "experiments" / "reasoning-model.toml")
    spec.dataset.update(limit=3)
    spec.settings.update(llm_base_url=llm.url, llm_model="o3-mini", llm_max_retries=0)
    spec.grid = {"token_budget": [130]}

    def factory(settings: Settings) -> Pipeline:
        return Pipeline(settings.replace(llm_api_key=API_KEY), embedder=embedder)

    llm.script([{"status": 500}])                                   # the first question's call fails
    out = tmp_path / "run"
    run_experiment(spec, out, pipeline_factory=factory, base=EXPERIMENTS, progress=False)
    rows = read_rows(out / "results.jsonl")
    assert len(rows) == 3
    failed = [r for r in rows if "error" in r]
    assert len(failed) == 1 and "500" in failed[0]["error"]
    (s,) = summarize(rows)
    assert s["questions"] == 2 and s["errors"] == 1
    run_experiment(spec, out, pipeline_factory=factory, base=EXPERIMENTS, progress=False)  # retries that one
    (s,) = summarize(read_rows(out / "results.jsonl"))
    assert s["questions"] == 3 and s["errors"] == 0
    assert len(read_rows(out / "results.jsonl")) == 4


def test_run_folder_survives_a_cut_line_refuses_a_second_writer_and_hides_secrets(tmp_path: Path, embedder) -> None:
    from filelock import FileLock

    from rag.errors import InputError
    from rag.evaluate.experiment import run_experiment

    spec = Spec.load(_tiny_spec(tmp_path, embedder, limit=4, settings='llm_api_key = "sk-never-written-0123456789"\n'))
    out = tmp_path / "run"

    def factory(s: Settings) -> Pipeline:
        return Pipeline(s, embedder=embedder)

    run_experiment(spec, out, pipeline_factory=factory, progress=False)
    results = out / "results.jsonl"
    text = results.read_text()
    results.write_text(text[:-12])  # a crash cut the last row in the middle
    run_experiment(spec, out, pipeline_factory=factory, progress=False)
    rows = read_rows(results)
    assert len(rows) == len(text.splitlines())  # every line parses: the row after the cut was not swallowed
    assert len({(r["config"], r["qid"]) for r in rows}) == 8
    with FileLock(str(out / ".run.lock")), pytest.raises(InputError, match="another run is writing"):
        run_experiment(spec, out, pipeline_factory=factory, progress=False)
    assert "sk-never-written" not in (out / "spec.json").read_text()  # report.md is written from spec.json
    assert json.loads((out / "spec.json").read_text())["settings"]["llm_api_key"] == "***"


def test_a_shipped_spec_scores_the_files_it_retrieves(tmp_path: Path, embedder) -> None:
    """experiments/corpus-context.toml end to end: its gold names files ("reasoning-tokens.md") while the
    store keeps absolute paths; nDCG, recall and MRR once read 0.0 for every question, and the report's
    toggle table read '"*" -> "*"' (token_budget masked as a secret)."""
    from rag.evaluate.experiment import run_experiment

    root = Path(__file__).resolve().parents[2]
    shutil.copytree(CORPUS, tmp_path / "corpus")
    Pipeline(Settings(store_path=tmp_path / ".leanrag/store"), embedder=embedder).ingest([tmp_path / "corpus"])
    spec = Spec.load(root / "experiments/corpus-context.toml")
    (tmp_path / "experiments").mkdir()  # where the spec's relative paths start
    out = tmp_path / "run"
    run_experiment(spec, out, pipeline_factory=lambda s: Pipeline(s, embedder=embedder),
                   base=tmp_path / "experiments", progress=False)  # paths are relative to the spec file
    rows = read_rows(out / "results.jsonl")
    gold = {f"q{i}": json.loads(line)["source"]
            for i, line in enumerate((tmp_path / "corpus/questions.jsonl").read_text().splitlines())}
    found = [r for r in rows if any(d.endswith("/" + gold[r["qid"]]) for d in r["doc_ids"])]
    assert len(found) >= len(rows) * 0.8
    assert all(r["ndcg@10"] > 0 and r["recall@10"] > 0 and r["mrr@10"] > 0 for r in found)
    assert summarize(rows)[0]["ndcg@10"] > 0.5
    written = json.loads((out / "spec.json").read_text())
    assert written["grid"]["token_budget"] == [60, 130, 350]  # a budget is no secret
    from rag.evaluate.report import write_report

    report = write_report(out).read_text()
    assert "token_budget: 60 -> 130" in report and '"*"' not in report


def test_a_run_folder_refuses_another_spec(tmp_path: Path, embedder) -> None:
    """Re-using --out with a different spec once kept the old rows as the new spec's results."""
    from rag.errors import InputError
    from rag.evaluate.experiment import run_experiment

    path = _tiny_spec(tmp_path, embedder, limit=2)
    out = tmp_path / "run"

    def factory(s: Settings) -> Pipeline:
        return Pipeline(s, embedder=embedder)

    run_experiment(Spec.load(path), out, pipeline_factory=factory, progress=False)
    run_experiment(Spec.load(path), out, pipeline_factory=factory, progress=False)  # the same spec resumes
    path.write_text(path.read_text().replace("token_budget = [60, 130]", "token_budget = [60, 90]"))
    with pytest.raises(InputError, match="results of another spec"):
        run_experiment(Spec.load(path), out, pipeline_factory=factory, progress=False)
