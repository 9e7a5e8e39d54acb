"""Abstention and noise robustness on SQuAD (see BENCHMARKS.md, issue 12).

    .venv/bin/python scripts/bench_abstain.py --squad-store DIR [--n 300] [--only abstain,noise]

abstain: each question twice, against the whole store (answerable) and against the store without its
article (a Chroma ``where`` filter on doc_id: unanswerable). Prints the best calibrated passage score's
spread for both, then for each threshold the share of unanswerable questions that abstain and of
answerable ones wrongly refused; the threshold is chosen on non-test questions (at most 1% refused) and
reported on the 300 test questions.
signals: which signal could abstain, measured where it must not: SQuAD non-test questions with and
without their article, and answerable questions of the other sets (HotpotQA over its own paragraphs,
SciFact test claims over the whole corpus, with --scifact-store): the best kept passage's score (what
``abstain_below`` reads) against the best sentence score of the pool.
noise: caller-supplied passages, the gold paragraph among 9 paragraphs of other articles (random) or
of its own article (hard): gold answer kept, and the share of distractor passages kept.
"""
from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

from rag import Pipeline, Settings
from rag.evaluate.datasets import Question, beir, hotpotqa, squad_split
from rag.evaluate.metrics import answer_kept, median, percentile

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SQUAD = DATA / "squad-v1.1-dev" / "dev-v1.1.json"
SIGNALS = {"best passage": lambda ctx: max((x.score for x in ctx.passages), default=0.0),
           "best sentence": lambda ctx: max((max(c.sentence_scores, default=0.0) for c in ctx.pool), default=0.0)}


def paragraphs() -> dict[str, str]:
    """doc_id (``<Title>_<index>``, as in the paragraph-retrieval corpus) -> paragraph text."""
    out = {}
    for article in json.loads(SQUAD.read_text())["data"]:
        for i, para in enumerate(article["paragraphs"]):
            out[f"{article['title']}_{i}"] = para["context"]
    return out


def article(doc_id: str) -> str:
    return doc_id.rsplit("_", 1)[0]


def best_scores(p: Pipeline, qs: list[Question], by_article: dict[str, list[str]]) -> tuple[list, list]:
    inside, outside = [], []
    for q in qs:
        gold = article(next(iter(q.relevant)))
        inside.append(max(x.score for x in p.retrieve(q.text).passages))
        ctx = p.retrieve(q.text, where={"doc_id": {"$nin": by_article[gold]}})
        outside.append(max((x.score for x in ctx.passages), default=0.0))
    return inside, outside


def rates(inside: list[float], outside: list[float], t: float) -> tuple[float, float]:
    """(share of unanswerable questions that abstain, share of answerable ones refused) at threshold t."""
    return (100 * sum(s < t for s in outside) / len(outside), 100 * sum(s < t for s in inside) / len(inside))


def bench_abstain(p: Pipeline, train: list[Question], test: list[Question], by_article: dict) -> None:
    tr_in, tr_out = best_scores(p, train, by_article)
    grid = sorted({round(x, 3) for x in tr_in + tr_out})
    chosen = max((t for t in grid if rates(tr_in, tr_out, t)[1] <= 1.0), default=0.0)
    te_in, te_out = best_scores(p, test, by_article)
    for name, a, b in (("train", tr_in, tr_out), ("test", te_in, te_out)):
        print(f"{name}: best score answerable median {median(a):.3f} p10 {percentile(a, .1):.3f}; "
              f"without the article median {median(b):.3f} p90 {percentile(b, .9):.3f}")
    print("threshold  abstain% (article left out, test)  refused% (answerable, test)")
    for t in sorted({0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, chosen}):
        ab, ref = rates(te_in, te_out, t)
        print(f"{t:9.3f}  {ab:8.1f}  {ref:8.1f}" + ("   <- chosen on train (<= 1% refused)" if t == chosen else ""))


def bench_signals(p: Pipeline, train: list[Question], by_article: dict, scifact_store: str | None) -> None:
    """Each signal's abstain/refuse rates at a few thresholds: SQuAD (with and without the article), then
    refusals alone on the answerable questions of HotpotQA and SciFact."""
    sets: dict[str, list] = {"squad answerable": [], "squad article left out": []}
    for q in train:
        gold = article(next(iter(q.relevant)))
        sets["squad answerable"].append(p.retrieve(q.text))
        sets["squad article left out"].append(p.retrieve(q.text, where={"doc_id": {"$nin": by_article[gold]}}))
    hot = hotpotqa(DATA / "hotpotqa-distractor-sample" / "hotpotqa_distractor_sample.jsonl")
    sets["hotpotqa answerable"] = [p.retrieve(q.text, passages=q.passages) for q in hot]
    if scifact_store:
        sci = Pipeline(Settings(store_path=scifact_store))
        sets["scifact answerable"] = [sci.retrieve(q.text) for q in beir(DATA / "scifact", "test")]
    print("share of questions under the threshold (abstaining; for answerable sets, wrongly refused)")
    for name, signal in SIGNALS.items():
        for t in (0.05, 0.1, 0.15, 0.2):
            cells = [f"{k} {100 * sum(signal(c) < t for c in v) / len(v):.1f}%" for k, v in sets.items()]
            print(f"{name} < {t}: " + ", ".join(cells))


def bench_noise(p: Pipeline, test: list[Question], paras: dict[str, str]) -> None:
    rng = random.Random(11)
    ids = sorted(paras)
    by_article = defaultdict(list)
    for i in ids:
        by_article[article(i)].append(i)
    for kind in ("random", "hard"):
        kept, distractors_kept, toks = [], [], []
        for q in test:
            gold = next(iter(q.relevant))
            pool = [i for i in (ids if kind == "random" else by_article[article(gold)])
                    if i != gold and (kind == "hard" or article(i) != article(gold))]
            others = rng.sample(pool, min(9, len(pool)))
            passages = [{"id": i, "text": paras[i]} for i in [gold, *others]]
            rng.shuffle(passages)
            ctx = p.retrieve(q.text, passages=passages)
            kept.append(answer_kept(ctx.text, q.answers))
            distractors_kept.append(sum(x.id != gold for x in ctx.passages) / len(others))
            toks.append(ctx.tokens)
        print(f"noise ({kind} distractors, 9 per question): gold answer kept {100 * sum(kept) / len(kept):.1f}%, "
              f"distractor passages kept {100 * sum(distractors_kept) / len(distractors_kept):.1f}%, "
              f"median {median(toks):.0f} tokens")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--squad-store", required=True)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--only", default="abstain,noise", help="abstain, noise, signals")
    ap.add_argument("--scifact-store", help="for signals: SciFact's answerable claims")
    args = ap.parse_args()
    train, test = squad_split(SQUAD)
    train = random.Random(5).sample(train, args.n)
    test = test[:args.n]
    paras = paragraphs()
    by_article: dict[str, list[str]] = defaultdict(list)
    for i in paras:
        by_article[article(i)].append(i)
    p = Pipeline(Settings(store_path=args.squad_store))
    if "abstain" in args.only:
        bench_abstain(p, train, test, by_article)
    if "signals" in args.only:
        bench_signals(p, train, by_article, args.scifact_store)
    if "noise" in args.only:
        bench_noise(p, test, paras)


if __name__ == "__main__":
    main()
