"""Reports of experiment folders: tables, plots, each toggle's effect, and "is B better than A?".

Confidence intervals and p-values come from a paired bootstrap over questions (seeded, so a report
is reproducible): a question is compared with itself under two settings, never with another question.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import InputError
from rag.evaluate.experiment import grid_name
from rag.evaluate.results import QUALITY, by_config, read_rows, summarize


def primary_metric(rows: list[dict[str, Any]]) -> str:
    """The first quality metric the rows have: an answer score when there is one."""
    for key in ("f1", "contains", "support_recall", "answer_kept", "ndcg@10"):
        if any(r.get(key) is not None for r in rows):
            return key
    raise InputError("the results hold no quality metric")


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


def compare(dir_a: Path, dir_b: Path, metric: str | None = None) -> list[dict[str, Any]]:
    """Per configuration present in both runs: is B better than A on ``metric``, paired by question?"""
    a, b = by_config(read_rows(dir_a / "results.jsonl")), by_config(read_rows(dir_b / "results.jsonl"))
    metric = metric or primary_metric(read_rows(dir_a / "results.jsonl"))
    out = []
    for name in [c for c in a if c in b]:
        qids = [q for q in a[name] if q in b[name] and a[name][q].get(metric) is not None
                and b[name][q].get(metric) is not None]
        res = paired_bootstrap([a[name][q][metric] for q in qids], [b[name][q][metric] for q in qids])
        verdict = ("B better" if res["low"] > 0 else "B worse" if res["high"] < 0 else "no significant difference")
        out.append({"config": name, "metric": metric, **res, "verdict": verdict})
    if not out:
        raise InputError("the two runs share no configuration")
    return out


def toggle_effects(rows: list[dict[str, Any]], grid: dict[str, list[Any]], metric: str) -> list[dict[str, Any]]:
    """For each grid key and value: the paired change against its first value, other keys held equal."""
    by = by_config(rows)
    keys = list(grid)
    # configuration names exactly as Spec.configurations writes them, with the values they stand for
    points = {grid_name(keys, vals): dict(zip(keys, vals, strict=True))
              for vals in itertools.product(*(grid[k] for k in keys))}
    index = {json.dumps(v, sort_keys=True): n for n, v in points.items()}
    out = []
    for key, values in grid.items():
        for value in values[1:]:
            a_vals, b_vals = [], []
            for name, point in points.items():
                if point[key] != values[0] or name not in by:
                    continue
                twin = index[json.dumps({**point, key: value}, sort_keys=True)]
                for qid, r in by[name].items():
                    other = by.get(twin, {}).get(qid)
                    if other is not None and r.get(metric) is not None and other.get(metric) is not None:
                        a_vals.append(r[metric])
                        b_vals.append(other[metric])
            out.append({"toggle": f"{key}: {json.dumps(values[0])} -> {json.dumps(value)}", "metric": metric,
                        **paired_bootstrap(a_vals, b_vals)})
    return out


COST_KEYS = ("reasoning_tokens", "completion_tokens", "answer_tokens", "latency_ms")


def within_slope(rows: list[dict[str, Any]], key: str) -> float | None:
    """Change of ``key`` per 1,000 added context tokens, the same question compared with itself.

    A least-squares slope after removing each question's own mean (question fixed effects), so hard
    questions with long contexts do not pass for an effect of the context.
    """
    by_q: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if r.get(key) is not None and r.get("context_tokens") is not None:
            by_q.setdefault(r["qid"], []).append((float(r["context_tokens"]), float(r[key])))
    sxy = sxx = 0.0
    for pts in by_q.values():
        if len(pts) < 2:
            continue
        mx, my = float(np.mean([x for x, _ in pts])), float(np.mean([y for _, y in pts]))
        sxy += sum((x - mx) * (y - my) for x, y in pts)
        sxx += sum((x - mx) ** 2 for x, _ in pts)
    return 1000 * sxy / sxx if sxx > 0 else None


def overcomplication(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Each configuration against the leanest one: what its extra context bought and what it cost.

    Costs are per 1,000 added context tokens (paired by question; tokens by the mean difference, latency
    by the median one); ``equal_accuracy`` says whether the metric's 95% interval includes no change,
    i.e. whether the extra tokens were paid for nothing.
    """
    by = by_config(rows)
    tokens = {c: float(np.median([r["context_tokens"] for r in qs.values()])) for c, qs in by.items()}
    if len(tokens) < 2:
        return []
    lean = min(tokens, key=lambda c: tokens[c])
    out = []
    for name, res in by.items():
        if name == lean:
            continue
        qids = [q for q in res if q in by[lean]]
        added = float(np.mean([res[q]["context_tokens"] - by[lean][q]["context_tokens"] for q in qids])) if qids else 0
        pairs = [q for q in qids if res[q].get(metric) is not None and by[lean][q].get(metric) is not None]
        acc = paired_bootstrap([by[lean][q][metric] for q in pairs], [res[q][metric] for q in pairs])
        row: dict[str, Any] = {"config": name, "baseline": lean, "added_context_tokens": added, "metric": metric,
               "metric_change": acc["diff"], "low": acc["low"], "high": acc["high"],
               "equal_accuracy": bool(acc["low"] <= 0 <= acc["high"])}
        for key in COST_KEYS:
            both = [q for q in qids if res[q].get(key) is not None and by[lean][q].get(key) is not None]
            # tokens are billed by the sum, so their mean; a latency's mean is one stalled request's hostage
            agg = np.median if key == "latency_ms" else np.mean
            change = float(agg([res[q][key] - by[lean][q][key] for q in both])) if both else None
            # per 1,000 tokens is meaningless when a configuration adds (almost) none, e.g. a reordering
            row[f"{key}_per_1k"] = 1000 * change / added if change is not None and abs(added) >= 10 else None
        out.append(row)
    return sorted(out, key=lambda r: r["added_context_tokens"])


def write_report(run: Path, metric: str | None = None) -> Path:
    """``report.md`` with tables and PNG plots beside it; ``metric``: the primary one (else the spec's)."""
    rows = read_rows(run / "results.jsonl")
    spec = json.loads((run / "spec.json").read_text())
    summary = summarize(rows)
    metric = metric or spec.get("metric") or primary_metric(rows)
    lines = [f"# {spec['name']}", "", f"Dataset: `{spec['dataset'].get('kind')}` "
             f"({summary[0]['questions'] if summary else 0} questions); settings for every run: "
             f"`{json.dumps(spec['settings'])}`. Primary metric: **{metric}**.", ""]
    lines += _summary_table(summary)
    lines += _effects_section(toggle_effects(rows, spec.get("grid", {}), metric), metric)
    lines += _overcomplication_section(rows, metric)
    lines += _plots(run, spec["name"], rows, summary, metric)
    path = run / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _summary_table(summary: list[dict[str, Any]]) -> list[str]:
    cols = ["config", "questions", "errors", *QUALITY, "distractor_share", "context_tokens_median",
            "completion_tokens_mean",
            "reasoning_tokens_mean", "answer_tokens_mean", "cost_total", "latency_ms_median"]
    # a column with no value is noise; so are counts that are all zero (no errors, no model, no cost)
    zero_is_empty = {"errors", "completion_tokens_mean", "reasoning_tokens_mean", "cost_total"}
    cols = [c for c in cols if any(s.get(c) not in ((None, 0) if c in zero_is_empty else (None,)) for s in summary)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return lines + ["| " + " | ".join(fmt(s.get(c)) for c in cols) + " |" for s in summary]


def _effects_section(effects: list[dict[str, Any]], metric: str) -> list[str]:
    if not effects:
        return []
    lines = ["", f"## Each toggle's effect on {metric} (paired bootstrap, 95% interval)", "",
             "| toggle | pairs | change | 95% interval | p |", "|---|---|---|---|---|"]
    return lines + [f"| {e['toggle']} | {e['n']} | {e['diff']:+.4f} | [{e['low']:+.4f}, {e['high']:+.4f}] | "
                    f"{e['p']:.4f} |" for e in effects]


def _overcomplication_section(rows: list[dict[str, Any]], metric: str) -> list[str]:
    over = overcomplication(rows, metric)
    if not over or not any(o[f"{k}_per_1k"] is not None for o in over for k in COST_KEYS):
        return []
    lines = ["", f"## Overcomplication: each configuration against the leanest (`{over[0]['baseline']}`)", "",
             "Changes per 1,000 added context tokens, the same questions paired. *Equal accuracy*: the "
             f"{metric} interval includes no change, so the extra context bought nothing measurable.", ""]
    # a cost no configuration changes (an answerer without reasoning) is left out
    keys = [k for k in COST_KEYS if any(o[f"{k}_per_1k"] for o in over)]
    lines += [f"| config | added context tokens | {metric} change [95%] | equal accuracy | "
              + " | ".join(f"{k.replace('_', ' ')} / +1k" for k in keys) + " |", "|---|---|---|---|"
              + "---|" * len(keys)]
    lines += [f"| {o['config']} | {o['added_context_tokens']:+.0f} | {o['metric_change']:+.4f} "
              f"[{o['low']:+.4f}, {o['high']:+.4f}] | {'yes' if o['equal_accuracy'] else 'no'} | "
              + " | ".join(fmt(o[f"{k}_per_1k"], signed=True) for k in keys) + " |" for o in over]
    slopes = {k: within_slope(rows, k) for k in keys}
    said = [f"{v:+.1f} {k.replace('_', ' ')}" for k, v in slopes.items() if v is not None]
    if said:
        lines += ["", "Pooled over every configuration (least squares within each question): "
                  + ", ".join(said) + " per 1,000 added context tokens."]
    return lines


def _plots(run: Path, title: str, rows: list[dict[str, Any]], summary: list[dict[str, Any]],
           metric: str) -> list[str]:
    """One PNG per figure worth drawing, saved in ``run``; returns the report lines that show them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    context_metric = next((k for k in ("support_recall", "answer_kept") if any(r.get(k) is not None for r in rows)),
                          None)
    plots = [("accuracy_vs_tokens.png", metric, metric)]
    if context_metric:
        plots.append(("context_vs_tokens.png", context_metric, f"{context_metric} (what the context kept)"))
    lines: list[str] = []
    for name, ykey, label in [*plots,
                              ("reasoning_vs_tokens.png", "reasoning_tokens_mean", "reasoning tokens (mean)"),
                              ("completion_vs_tokens.png", "completion_tokens_mean", "completion tokens (mean)")]:
        pts = [(s["context_tokens_median"], s.get(ykey), s["config"]) for s in summary if s.get(ykey) is not None]
        if not pts or (ykey not in (metric, context_metric) and not any(y for _, y, _ in pts)):
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        ax.scatter([float(p[0]) for p in pts], [float(p[1] or 0.0) for p in pts])  # None was filtered out
        for x, y, c in pts:
            ax.annotate(c, (x, y), fontsize=6, alpha=0.8)
        ax.set_xlabel("context tokens (median)")
        ax.set_ylabel(label)
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(run / name, dpi=110)
        plt.close(fig)
        lines += ["", f"![{label} vs context tokens]({name})"]
    return lines


def fmt(v: Any, signed: bool = False) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        sign = "+" if signed else ""
        return f"{v:{sign}.4f}" if abs(v) < 10 else f"{v:{sign}.0f}"
    return str(v)
