"""An experiment's rows: one per configuration and question (its metrics, tokens, cost and latency), written
to ``results.jsonl``, read back, and summed up per configuration (``summary.csv``)."""
from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.evaluate.datasets import Question
from rag.evaluate.manipulate import distractor_share
from rag.evaluate.metrics import (
    RANK_METRICS,
    answer_contains,
    answer_kept,
    exact_match,
    mean,
    median,
    percentile,
    rank_metrics,
    support_recall,
    token_f1,
)
from rag.types import Answer, Context

QUALITY = ["answer_kept", "support_recall", "em", "f1", "contains", *RANK_METRICS]


def in_gold_terms(doc_ids: list[str], relevant: dict[str, int]) -> list[str]:
    """Retrieved document ids as the gold names them: a file is stored under its absolute path, while a
    questions file names it by file name or relative path ("reasoning-tokens.md"), so a stored path that
    ends with a gold path, component by component, is that gold document."""
    def match(doc_id: str) -> str:
        if doc_id in relevant:
            return doc_id
        parts = doc_id.replace("\\", "/").split("/")
        for gold in relevant:
            tail = gold.replace("\\", "/").strip("/").split("/")
            if len(parts) > len(tail) and parts[-len(tail):] == tail:
                return gold
        return doc_id
    return [match(d) for d in doc_ids]


def question_row(q: Question, ctx: Context, ans: Answer | None, count: Callable[[str], int]) -> dict[str, Any]:
    """Per-question metrics: retrieval, context, answer, cost, latency."""
    row: dict[str, Any] = {"qid": q.id, "context_tokens": ctx.tokens, "passages": len(ctx.passages),
                           "answer_kept": float(answer_kept(ctx.text, q.answers)) if q.answers else None,
                           "support_recall": support_recall(ctx.text, q.support) if q.support else None,
                           "distractor_share": distractor_share(ctx.passages, q, count),
                           "doc_ids": list(dict.fromkeys(p.doc_id for p in ctx.passages))}
    if q.relevant and ctx.pool:
        row.update(rank_metrics(in_gold_terms([c.doc_id for c in ctx.pool], q.relevant), q.relevant))
    if ans is not None:
        u = ans.usage
        row.update(answer=ans.text, **answer_scores(ans.text, q), prompt_tokens=u.prompt_tokens,
                   cached_tokens=u.cached_tokens, completion_tokens=u.completion_tokens,
                   reasoning_tokens=u.reasoning_tokens, answer_tokens=u.answer_tokens, cost=ans.cost,
                   latency_ms=ans.timings.get("total_ms"))
    return row


def answer_scores(text: str, q: Question) -> dict[str, float]:
    return {"em": float(exact_match(text, q.answers)), "f1": token_f1(text, q.answers),
            "contains": float(answer_contains(text, q.answers))}


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the last line of a killed run may be cut: that question runs again
    return rows


SUMMARY_COLUMNS = ["config", "questions", "errors", *QUALITY, "distractor_share", "context_tokens_median",
                   "context_tokens_p90",
                   "prompt_tokens_mean", "completion_tokens_mean", "reasoning_tokens_mean", "answer_tokens_mean",
                   "cost_total", "latency_ms_median"]


def by_config(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Rows by configuration and question; a question run twice (resume) counts once, failed calls not at all."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        if "error" not in r:
            out.setdefault(r["config"], {})[r["qid"]] = r
    return out


def summarize(rows: list[dict[str, Any]], configs: list[str] | None = None) -> list[dict[str, Any]]:
    by = by_config(rows)
    failed: dict[str, set[str]] = {}
    for r in rows:
        if "error" in r:
            failed.setdefault(r["config"], set()).add(r["qid"])
    out = []
    for name in configs or list(by):
        rs = list(by.get(name, {}).values())
        if not rs:
            continue

        def col(key: str, rs: list[dict] = rs) -> list[float]:
            return [float(r[key]) for r in rs if r.get(key) is not None]

        toks = sorted(col("context_tokens"))
        row = {"config": name, "questions": len(rs), "errors": len(failed.get(name, set()) - set(by[name]))}
        for key in QUALITY:
            row[key] = round(mean(col(key)), 4) if col(key) else None
        row.update(distractor_share=_mean(col("distractor_share"), 4), context_tokens_median=median(toks),
                   context_tokens_p90=round(percentile(toks, 0.9), 1),
                   prompt_tokens_mean=_mean(col("prompt_tokens")),
                   completion_tokens_mean=_mean(col("completion_tokens")),
                   reasoning_tokens_mean=_mean(col("reasoning_tokens")),
                   answer_tokens_mean=_mean(col("answer_tokens")),
                   cost_total=round(sum(col("cost")), 6) if col("cost") else None,
                   latency_ms_median=median(col("latency_ms")) if col("latency_ms") else None)
        out.append(row)
    return out


def _mean(xs: list[float], digits: int = 2) -> float | None:
    return round(mean(xs), digits) if xs else None


def write_summary(out: Path, configs: list[str] | None = None) -> Path:
    path = out / "summary.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
        w.writeheader()
        w.writerows(summarize(read_rows(out / "results.jsonl"), configs))
    return path
