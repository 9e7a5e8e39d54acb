"""``rag tune SPEC``: search retrieval settings on a train split, report the choice once on the test split.

The spec is an experiment spec with a ``[tune]`` table::

    [tune]
    objective = "ndcg@10"          # a summary column to maximise (answer_kept, support_recall, f1, ...)
    max_context_tokens = 150       # optional: only configurations whose median context fits
    train = {split = "train", limit = 300}   # dataset fields for each phase
    test = {split = "test"}

The grid is searched on train (a grid over ``chunk_size``/``chunk_overlap`` ingests ``dataset.corpus``
once per chunking). The best configuration that meets the ceiling, fewer tokens breaking ties, then runs
on test beside the defaults, and nothing else does: the test split is looked at once. The folder gets
``train/`` and ``test/`` run folders, ``best.toml`` (settings to use as ``rag.toml``) and ``report.md``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.evaluate.experiment import CHUNKING, ExperimentPipeline, Spec, run_experiment
from rag.evaluate.report import fmt, paired_bootstrap, write_report
from rag.evaluate.results import read_rows, summarize
from rag.settings import Settings

DEFAULTS = "defaults"
TUNED = "tuned"


@dataclass
class TuneResult:
    best: str
    overrides: dict[str, Any]
    train: list[dict[str, Any]]
    test: list[dict[str, Any]]
    effect: dict[str, float]
    report: Path


def check(spec: Spec) -> tuple[str, float | None]:
    tune = spec.tune
    if not tune.get("objective"):
        raise InputError("a tune spec needs [tune] objective = \"<summary column>\" (e.g. ndcg@10, answer_kept)")
    if not spec.grid:
        raise InputError("a tune spec needs a [grid] to search")
    for phase in ("train", "test"):
        if not isinstance(tune.get(phase, {}), dict):
            raise InputError(f"tune.{phase} must be a table of dataset fields, e.g. {{split = \"{phase}\"}}")
    ceiling = tune.get("max_context_tokens")
    return str(tune["objective"]), float(ceiling) if ceiling is not None else None


def choose(summary: list[dict[str, Any]], objective: str, ceiling: float | None) -> dict[str, Any]:
    """The configuration with the best objective among those within the token ceiling; fewer tokens win ties."""
    if summary and objective not in summary[0]:
        raise InputError(f"objective {objective!r} is not a summary column: {', '.join(summary[0])}")
    fits = [r for r in summary if r.get(objective) is not None
            and (ceiling is None or r["context_tokens_median"] <= ceiling)]
    if not fits:
        raise InputError(f"no configuration has a median context within {ceiling} tokens and a value for "
                         f"{objective}: raise max_context_tokens or widen the grid")
    return max(fits, key=lambda r: (round(r[objective], 4), -r["context_tokens_median"]))


def run_tune(spec: Spec, out: Path, *, base: Path = Path("."), progress: bool = True,
             pipeline_factory: Callable[[Settings], ExperimentPipeline] | None = None) -> TuneResult:
    objective, ceiling = check(spec)
    answer = objective in ("em", "f1", "contains")  # only answer metrics need the answerer on every trial
    stores = out / "stores"
    train = Spec(f"{spec.name}-train", {**spec.dataset, **spec.tune.get("train", {})}, spec.settings, spec.grid)
    run_experiment(train, out / "train", base=base, progress=progress, answer=answer, stores=stores,
                   pipeline_factory=pipeline_factory)
    write_report(out / "train")
    searched = dict(train.configurations())
    train_rows = summarize(read_rows(out / "train" / "results.jsonl"), list(searched))
    best = choose(train_rows, objective, ceiling)
    overrides = dict(searched[best["config"]])
    test = Spec(f"{spec.name}-test", {**spec.dataset, **spec.tune.get("test", {})}, spec.settings,
                configs={DEFAULTS: {}, TUNED: {k: v for k, v in overrides.items() if k not in spec.settings}})
    run_experiment(test, out / "test", base=base, progress=progress, answer=True, stores=stores,
                   pipeline_factory=pipeline_factory)
    write_report(out / "test")
    rows = read_rows(out / "test" / "results.jsonl")
    test_rows = summarize(rows, [DEFAULTS, TUNED])
    by = {(r["config"], r["qid"]): r.get(objective) for r in rows}
    qids = [q for (c, q), v in by.items() if c == DEFAULTS and v is not None and by.get((TUNED, q)) is not None]
    effect = paired_bootstrap([float(by[(DEFAULTS, q)] or 0.0) for q in qids],  # None was filtered out
                              [float(by[(TUNED, q)] or 0.0) for q in qids])
    (out / "best.toml").write_text(_toml(overrides), encoding="utf-8")
    report = _report(out, spec, objective, ceiling, best, overrides, train_rows, test_rows, effect)
    return TuneResult(best["config"], overrides, train_rows, test_rows, effect, report)


def _toml(overrides: dict[str, Any]) -> str:
    lines = ["# chosen by rag tune; use as rag.toml (or RAG_CONFIG=best.toml)"]
    for k, v in overrides.items():
        if k in CHUNKING:
            lines.append(f"# {k} = {json.dumps(v)}  (re-ingest with this chunking to use it)")
        elif v is None:
            lines.append(f"# {k} = off (unset it with RAG_{k.upper()}=null)")
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def _report(out: Path, spec: Spec, objective: str, ceiling: float | None, best: dict[str, Any],
            overrides: dict[str, Any], train: list[dict[str, Any]], test: list[dict[str, Any]],
            effect: dict[str, float]) -> Path:
    cols = ["config", "questions", objective, "context_tokens_median", "distractor_share"]
    cols = [c for c in cols if any(r.get(c) is not None for r in train + test)]

    def table(rows: list[dict[str, Any]]) -> list[str]:
        return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)] + [
            "| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]

    ranked = sorted(train, key=lambda r: -(r.get(objective) or 0))
    lines = [f"# {spec.name}: tuned on train, reported once on test", "",
             f"Objective: **{objective}**" + (f", median context <= {ceiling:g} tokens" if ceiling else "")
             + f". Train: `{json.dumps(spec.tune.get('train', {}))}`, test: `{json.dumps(spec.tune.get('test', {}))}`"
             f" over dataset `{spec.dataset.get('kind')}`.", "",
             f"Chosen on train: `{best['config']}` ({objective} {best[objective]:.4f} at a median "
             f"{best['context_tokens_median']:g} context tokens). Settings: `best.toml`.", "",
             "## Test (the only run on it)", "", *table(test), "",
             f"Tuned minus defaults on {objective}, paired by question: {effect['diff']:+.4f} "
             f"(95% interval [{effect['low']:+.4f}, {effect['high']:+.4f}], p = {effect['p']:.4f}, "
             f"n = {effect['n']}).", "",
             f"## Train: {len(train)} configurations, best first", "", *table(ranked), "",
             "Details: `train/report.md`, `test/report.md`."]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

