"""Context, retrieval and answer metrics.

Per-question ranking metrics are computed here (experiments pair questions across settings) and are
tested to equal ranx, the standard evaluator, which aggregates whole runs in ``ranking_metrics``.
"""
from __future__ import annotations

import math
import re
import statistics
import string
from collections import Counter
from collections.abc import Sequence

_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def answer_kept(context: str, answers: Sequence[str]) -> bool:
    """Does the context still contain a gold answer string (exact, as SQuAD spans are)?"""
    return any(a and a in context for a in answers)


def support_recall(context: str, support: Sequence[str]) -> float:
    """Share of the supporting sentences that survive whole in the context."""
    if not support:
        return 1.0
    return sum(1 for s in support if s in context) / len(support)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def doc_run(ranked: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Chunk scores to document scores (max over a document's chunks), for per-document metrics."""
    out: dict[str, float] = {}
    for doc_id, score in ranked:
        if doc_id not in out or score > out[doc_id]:
            out[doc_id] = score
    return out


RANK_METRICS = ("ndcg@10", "recall@10", "recall@50", "mrr@10")


def ndcg_at(ranking: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """nDCG@k with linear gain (ranx's ``ndcg``): sum rel/log2(rank+1) over the ideal order's sum."""
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(relevant.values(), reverse=True)[:k]))
    return dcg / ideal if ideal > 0 else 0.0


def recall_at(ranking: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    hits = {d for d in ranking[:k] if relevant.get(d, 0) > 0}
    total = sum(1 for g in relevant.values() if g > 0)
    return len(hits) / total if total else 0.0


def mrr_at(ranking: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    return next((1.0 / (i + 1) for i, d in enumerate(ranking[:k]) if relevant.get(d, 0) > 0), 0.0)


def rank_metrics(ranking: Sequence[str], relevant: dict[str, int]) -> dict[str, float]:
    """The per-question ranking metrics of ``RANK_METRICS`` for a ranked list of document ids."""
    ranking = list(dict.fromkeys(ranking))  # a document counts once, at its best rank
    return {"ndcg@10": ndcg_at(ranking, relevant), "recall@10": recall_at(ranking, relevant),
            "recall@50": recall_at(ranking, relevant, 50), "mrr@10": mrr_at(ranking, relevant)}


def ranking_metrics(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]],
                    metrics: Sequence[str] = ("ndcg@10", "recall@10", "recall@50", "mrr@10")) -> dict[str, float]:
    from ranx import Qrels, Run, evaluate

    run = {q: (r if r else {"__none__": 0.0}) for q, r in run.items()}
    scores = evaluate(Qrels(qrels), Run(run), list(metrics), make_comparable=True)
    return {m: float(scores[m]) for m in metrics}


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces; citations removed."""
    text = _CITATION.sub(" ", text).lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> bool:
    p = normalize_answer(prediction)
    return any(p == normalize_answer(a) for a in answers)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """The best token-overlap F1 against any gold answer (SQuAD's definition)."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for a in answers:
        gold = normalize_answer(a).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if not pred or not gold:
            best = max(best, float(pred == gold))
        elif common:
            precision, recall = common / len(pred), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def answer_contains(prediction: str, answers: Sequence[str]) -> bool:
    """Does the normalised prediction contain a normalised gold answer?"""
    p = normalize_answer(prediction)
    return any(normalize_answer(a) and normalize_answer(a) in p for a in answers)


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")
