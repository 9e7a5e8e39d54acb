"""Abstention and noise robustness on SQuAD (see BENCHMARKS.md, issue 12).

    .venv/bin/python scripts/bench_abstain.py --squad-store DIR [--n 300] [--only abstain,noise] [--weights F]

abstain: each question twice, against the whole store (answerable) and against the store without its
article (a Chroma ``where`` filter on doc_id: unanswerable), through the answer path's own rule
(``nothing_to_read``): the share of unanswerable questions that abstain and of answerable ones wrongly
refused, for a grid of ``abstain_learned_above`` (chosen on 300 non-test questions: the most abstaining
with <= 1.5% refused) and the passage rule alone, beside the refusals on HotpotQA's answerable questions
(titles and plain text; questions 50-99) and, with --scifact-store, SciFact's test claims, and the
abstentions on those HotpotQA questions with their two supporting paragraphs left out.
signals: which signal could abstain, measured where it must not: SQuAD non-test questions with and
without their article, and answerable questions of the other sets (HotpotQA over its own paragraphs,
SciFact test claims over the whole corpus, with --scifact-store): the best kept passage's score (what
``abstain_below`` reads) against the best sentence score of the pool.
noise: caller-supplied passages, the gold paragraph among 9 paragraphs of other articles (random) or
of its own article (hard): gold answer kept, and the share of distractor passages kept.
"""
from __future__ import annotations

import argparse
import functools
import json
import random
from collections import defaultdict
from pathlib import Path

from rag import Pipeline, Settings
from rag.answer.abstain import nothing_to_read
from rag.evaluate.datasets import Question, beir, hotpotqa, squad_split
from rag.evaluate.metrics import answer_kept, median
from rag.types import Context

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


def squad_contexts(p: Pipeline, qs: list[Question], by_article: dict[str, list[str]]) -> tuple[list, list]:
    """Each question's context against the whole store (answerable) and without its article (not)."""
    inside, outside = [], []
    for q in qs:
        gold = article(next(iter(q.relevant)))
        inside.append(p.retrieve(q.text))
        outside.append(p.retrieve(q.text, where={"doc_id": {"$nin": by_article[gold]}}))
    return inside, outside


def hotpot_contexts(p: Pipeline, qs: list[Question]) -> tuple[dict[str, list[Context]], dict[str, list[Context]]]:
    """HotpotQA questions over their own paragraphs, with and without ``title`` fields: all ten
    (answerable) and the eight distractors alone (the supporting paragraphs left out: not answerable)."""
    answerable: dict[str, list[Context]] = {}
    left_out: dict[str, list[Context]] = {}
    for form in ("titles", "plain"):
        forms = [(q, [x if form == "titles" else {k: v for k, v in x.items() if k != "title"} for x in q.passages])
                 for q in qs]
        answerable[f"hotpotqa {form}"] = [p.retrieve(q.text, passages=ps) for q, ps in forms]
        left_out[f"hotpotqa {form}"] = [p.retrieve(q.text, passages=[x for x in ps if x["id"] not in q.relevant])
                                        for q, ps in forms]
    return answerable, left_out


def articles() -> dict[str, list[str]]:
    """article title -> the doc_ids of its paragraphs."""
    by_article: dict[str, list[str]] = defaultdict(list)
    for i in paragraphs():
        by_article[article(i)].append(i)
    return by_article


def share(ctxs: list[Context], s: Settings) -> float:
    """Percent of contexts the answer path would not pay a model call for."""
    return 100 * sum(bool(nothing_to_read(c, s)) for c in ctxs) / len(ctxs)


def bench_abstain(p: Pipeline, train: list[Question], test: list[Question], by_article: dict,
                  scifact_store: str | None) -> None:
    """The learned rule at a grid of thresholds (chosen on train: the most abstaining with <= 1.5% refused)
    beside the passage rule alone, with refusals on the other sets' answerable questions and abstentions on
    HotpotQA without its supporting paragraphs (questions 50-99: scripts/train_abstain.py learns on 0-49)."""
    tr_in, tr_out = squad_contexts(p, train, by_article)
    te_in, te_out = squad_contexts(p, test, by_article)
    hot = hotpotqa(DATA / "hotpotqa-distractor-sample" / "hotpotqa_distractor_sample.jsonl")[50:]
    answerable, left_out = hotpot_contexts(p, hot)
    if scifact_store:
        sci = Pipeline(Settings(store_path=scifact_store))
        answerable["scifact"] = [sci.retrieve(q.text) for q in beir(DATA / "scifact", "test")]
    base = p.settings
    grid = [base.replace(abstain_learned_above=t) for t in (0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.92)]
    chosen = max((s for s in grid if share(tr_in, s) <= 1.5), key=lambda s: share(tr_out, s))
    print(f"abstain_below {base.abstain.abstain_below}; chosen on train (<= 1.5% refused): abstain_learned_above "
          f"{chosen.abstain.abstain_learned_above}")
    print("rule | SQuAD train: abstain% refused% | SQuAD test: abstain% refused% | refused% on "
          + ", ".join(answerable) + " | abstain% without the supporting paragraphs on " + ", ".join(left_out))
    hand = base.replace(abstain_learned_above=None)
    for s in [*grid, hand]:
        refused = " ".join(f"{share(v, s):5.1f}" for v in answerable.values())
        abstained = " ".join(f"{share(v, s):5.1f}" for v in left_out.values())
        name = (f"learned >= {s.abstain.abstain_learned_above}" if s.abstain.abstain_learned_above is not None else
                "passage rule alone")
        mark = " <- default" if s.abstain.abstain_learned_above == base.abstain.abstain_learned_above else ""
        print(f"{name:>20} | {share(tr_out, s):5.1f} {share(tr_in, s):5.1f} | {share(te_out, s):5.1f} "
              f"{share(te_in, s):5.1f} | {refused} | {abstained}{mark}")


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
    ap.add_argument("--scifact-store", help="for abstain and signals: SciFact's answerable claims")
    ap.add_argument("--weights", type=Path, help="another weights file for the abstention model "
                                                 "(scripts/train_abstain.py --out)")
    args = ap.parse_args()
    if args.weights:
        from rag.answer import abstain
        load_model = abstain.load_model.__wrapped__
        abstain.load_model = functools.partial(load_model, str(args.weights))  # type: ignore[assignment]
    train, test = squad_split(SQUAD)
    train = random.Random(5).sample(train, args.n)
    test = test[:args.n]
    paras = paragraphs()
    by_article = articles()
    p = Pipeline(Settings(store_path=args.squad_store))
    if "abstain" in args.only:
        bench_abstain(p, train, test, by_article, args.scifact_store)
    if "signals" in args.only:
        bench_signals(p, train, by_article, args.scifact_store)
    if "noise" in args.only:
        bench_noise(p, test, paras)


if __name__ == "__main__":
    main()
