"""Reports of experiment folders: tables, plots, each toggle's effect, and "is B better than A?".

Confidence intervals and p-values come from a paired bootstrap over questions (seeded, so a report
is reproducible): a question is compared with itself under two settings, never with another question.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluate.experiment import QUALITY, read_rows, summarize


def primary_metric(rows: list[dict[str, Any]]) -> str:
    """The first quality metric the rows have: an answer score when there is one."""
    for key in ("f1", "contains", "support_recall", "answer_kept"):
        if any(r.get(key) is not None for r in rows):
            return key
    raise ValueError("the results hold no quality metric")


def paired_bootstrap(a: list[float], b: list[float], *, n: int = 10_000, seed: int = 0) -> dict[str, float]:
    """Mean of b - a with a 95% interval and a two-sided p-value for "no difference".

    Example:
        >>> r = paired_bootstrap([0.0] * 50, [1.0] * 50)
        >>> r["diff"], r["p"] < 0.001
        (1.0, True)
    """
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if len(d) == 0:
        return {"n": 0, "diff": float("nan"), "low": float("nan"), "high": float("nan"), "p": float("nan")}
    if np.allclose(d, d[0]):  # no spread: the difference is exact
        return {"n": len(d), "diff": float(d[0]), "low": float(d[0]), "high": float(d[0]),
                "p": 1.0 if d[0] == 0 else 0.0}
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    return {"n": len(d), "diff": float(d.mean()), "low": float(np.percentile(means, 2.5)),
            "high": float(np.percentile(means, 97.5)), "p": float(min(1.0, p))}


def _by_config(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for r in rows:
        out.setdefault(r["config"], {})[r["qid"]] = r
    return out


def compare(dir_a: Path, dir_b: Path, metric: str | None = None) -> list[dict[str, Any]]:
    """Per configuration present in both runs: is B better than A on ``metric``, paired by question?"""
    a, b = _by_config(read_rows(dir_a / "results.jsonl")), _by_config(read_rows(dir_b / "results.jsonl"))
    metric = metric or primary_metric(read_rows(dir_a / "results.jsonl"))
    out = []
    for name in [c for c in a if c in b]:
        qids = [q for q in a[name] if q in b[name] and a[name][q].get(metric) is not None
                and b[name][q].get(metric) is not None]
        res = paired_bootstrap([a[name][q][metric] for q in qids], [b[name][q][metric] for q in qids])
        verdict = ("B better" if res["low"] > 0 else "B worse" if res["high"] < 0 else "no significant difference")
        out.append({"config": name, "metric": metric, **res, "verdict": verdict})
    if not out:
        raise ValueError("the two runs share no configuration")
    return out


def toggle_effects(rows: list[dict[str, Any]], grid: dict[str, list[Any]], metric: str) -> list[dict[str, Any]]:
    """For each grid key and value: the paired change against its first value, other keys held equal."""
    by = _by_config(rows)
    out = []
    for key, values in grid.items():
        for value in values[1:]:
            a_vals, b_vals = [], []
            for name, res in by.items():
                parts = dict(p.split("=", 1) for p in name.split(",")) if name != "base" else {}
                if parts.get(key) != json.dumps(values[0]):
                    continue
                twin = ",".join(f"{k}={json.dumps(value) if k == key else v}" for k, v in parts.items())
                for qid, r in res.items():
                    other = by.get(twin, {}).get(qid)
                    if other is not None and r.get(metric) is not None and other.get(metric) is not None:
                        a_vals.append(r[metric])
                        b_vals.append(other[metric])
            out.append({"toggle": f"{key}: {json.dumps(values[0])} -> {json.dumps(value)}", "metric": metric,
                        **paired_bootstrap(a_vals, b_vals)})
    return out


def write_report(run: Path) -> Path:
    """``report.md`` with tables and PNG plots beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_rows(run / "results.jsonl")
    spec = json.loads((run / "spec.json").read_text())
    summary = summarize(rows)
    metric = primary_metric(rows)
    lines = [f"# {spec['name']}", "", f"Dataset: `{spec['dataset'].get('kind')}` "
             f"({summary[0]['questions'] if summary else 0} questions); settings for every run: "
             f"`{json.dumps(spec['settings'])}`. Primary metric: **{metric}**.", ""]
    cols = ["config", "questions", *[k for k in QUALITY if any(s[k] is not None for s in summary)],
            "context_tokens_median", "completion_tokens_mean", "reasoning_tokens_mean", "cost_total",
            "latency_ms_median"]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(s.get(c)) for c in cols) + " |" for s in summary]
    effects = toggle_effects(rows, spec.get("grid", {}), metric)
    if effects:
        lines += ["", f"## Each toggle's effect on {metric} (paired bootstrap, 95% interval)", "",
                  "| toggle | pairs | change | 95% interval | p |", "|---|---|---|---|---|"]
        lines += [f"| {e['toggle']} | {e['n']} | {e['diff']:+.4f} | [{e['low']:+.4f}, {e['high']:+.4f}] | "
                  f"{e['p']:.4f} |" for e in effects]
    context_metric = next((k for k in ("support_recall", "answer_kept") if any(r.get(k) is not None for r in rows)),
                          None)
    plots = [("accuracy_vs_tokens.png", metric, metric)]
    if context_metric:
        plots.append(("context_vs_tokens.png", context_metric, f"{context_metric} (what the context kept)"))
    for name, ykey, label in [*plots,
                              ("reasoning_vs_tokens.png", "reasoning_tokens_mean", "reasoning tokens (mean)"),
                              ("completion_vs_tokens.png", "completion_tokens_mean", "completion tokens (mean)")]:
        pts = [(s["context_tokens_median"], s.get(ykey), s["config"]) for s in summary if s.get(ykey) is not None]
        if not pts or (ykey not in (metric, context_metric) and not any(y for _, y, _ in pts)):
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        ax.scatter([p[0] for p in pts], [p[1] for p in pts])
        for x, y, c in pts:
            ax.annotate(c, (x, y), fontsize=6, alpha=0.8)
        ax.set_xlabel("context tokens (median)")
        ax.set_ylabel(label)
        ax.set_title(spec["name"])
        fig.tight_layout()
        fig.savefig(run / name, dpi=110)
        plt.close(fig)
        lines += ["", f"![{label} vs context tokens]({name})"]
    path = run / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.0f}"
    return str(v)
