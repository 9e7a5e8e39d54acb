"""Retrieval, lean-context and latency figures on the shared data (see BENCHMARKS.md).

    .venv/bin/python scripts/bench_retrieval.py --scifact-store DIR --squad-store DIR [--only scifact,squad,hotpot]

Stores are built once with `rag ingest` (SciFact corpus.jsonl, SQuAD paragraph-retrieval corpus.jsonl).
Test questions only: SciFact qrels/test.tsv, the first 300 SQuAD questions after random.Random(7).shuffle,
all 100 HotpotQA questions, each over its own 10 paragraphs.
"""
from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

from rag import Pipeline, Settings
from rag.evaluate.datasets import beir, hotpotqa, squad_split
from rag.evaluate.metrics import answer_kept, doc_run, median, percentile, ranking_metrics, support_recall
from rag.evaluate.profiles import MULTI_HOP
from rag.index.embedder import one_blas_thread
from rag.tokens import count_tokens

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


# First-stage baselines: no rerank and no hop (whose lifts are measured in calibrated scores).
FIRST_STAGE = {
    "bm25": dict(dense=False, sentence_search=False, lexical=True, reranker="none", hop=False),
    "dense": dict(dense=True, sentence_search=False, lexical=False, reranker="none", hop=False),
    "hybrid (rrf bm25+dense)": dict(dense=True, sentence_search=False, lexical=True, reranker="none", hop=False),
    "hybrid+sentences": dict(dense=True, sentence_search=True, lexical=True, reranker="none", hop=False),
    "hybrid+rerank": dict(reranker="embedding"),
}


def bench_scifact(store: str, limit: int | None) -> None:
    qs = beir(DATA / "scifact", "test")[:limit]
    p = Pipeline(Settings(store_path=store))
    p.search(qs[0].text, k=10)  # load models and the lexical index before timing
    qrels = {q.id: q.relevant for q in qs}
    print(f"\nSciFact test ({len(qs)} queries)")
    print(f"{'configuration':<28}{'nDCG@10':>9}{'R@10':>8}{'R@50':>8}{'MRR@10':>8}")
    for name, cfg in FIRST_STAGE.items():
        run = {q.id: doc_run([(c.doc_id, c.score) for c in p.search(q.text, k=100, **cfg)]) for q in qs}
        m = ranking_metrics(qrels, run)
        print(f"{name:<28}{m['ndcg@10']:>9.3f}{m['recall@10']:>8.3f}{m['recall@50']:>8.3f}{m['mrr@10']:>8.3f}")
    times, forward, naive, run, tokens = [], [], [], {}, []
    store = p.store()
    for q in qs:
        t0 = time.perf_counter()
        ctx = p.retrieve(q.text)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        p.embedder.encode([q.text])
        forward.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.query(p.embedder.encode([q.text])[0], 5)  # naive dense top-5: one Chroma query, no pruning
        naive.append(time.perf_counter() - t0)
        run[q.id] = doc_run([(x.doc_id, x.score) for x in ctx.passages])
        tokens.append(ctx.tokens)
    m = ranking_metrics(qrels, run)
    print(f"{'hybrid+rerank+prune':<28}{m['ndcg@10']:>9.3f}{m['recall@10']:>8.3f}{m['recall@50']:>8.3f}"
          f"{m['mrr@10']:>8.3f}   (pruned context: median {median(tokens):.0f} tokens)")
    print(f"latency retrieve+rerank+prune: median {1000 * median(times):.0f} ms, "
          f"p90 {1000 * percentile(times, .9):.0f} ms;"
          f" model forward passes alone: median {1000 * median(forward):.1f} ms;"
          f" ratio {median(times) / median(forward):.1f}x; naive dense top-5 through the same Chroma store:"
          f" median {1000 * median(naive):.1f} ms")


def _table(measure: str, rows: dict[str, list[tuple[float, int]]]) -> None:
    """One line per configuration: mean of the measure (as %), median and p90 of context tokens."""
    print(f"{'configuration':<42}{measure:>8}{'median tok':>12}{'p90 tok':>9}")
    for name, r in rows.items():
        share = 100 * sum(x for x, _ in r) / len(r)
        toks = [t for _, t in r]
        print(f"{name:<42}{share:>7.1f}%{median(toks):>12.0f}{percentile(toks, .9):>9.0f}")


def bench_squad(store: str, limit: int | None) -> None:
    _, test = squad_split(DATA / "squad-v1.1-dev" / "dev-v1.1.json")
    test = test[:limit]
    p = Pipeline(Settings(store_path=store))
    rows = {"naive dense top-5 (no rerank, no prune)": [], "naive dense top-1": [], "leanrag (defaults)": []}
    for q in test:
        top = p.search(q.text, k=5, dense=True, sentence_search=False, lexical=False, reranker="none", hop=False)
        for name, n in (("naive dense top-5 (no rerank, no prune)", 5), ("naive dense top-1", 1)):
            text = "\n\n".join(c.text for c in top[:n])
            rows[name].append((answer_kept(text, q.answers), count_tokens(text)))
        ctx = p.retrieve(q.text)
        rows["leanrag (defaults)"].append((answer_kept(ctx.text, q.answers), ctx.tokens))
    print(f"\nSQuAD v1.1 dev, gold answer still in the context ({len(test)} test questions)")
    _table("kept", rows)
    base = median([t for _, t in rows["naive dense top-5 (no rerank, no prune)"]])
    print(f"leanrag median tokens / naive top-5: {median([t for _, t in rows['leanrag (defaults)']]) / base:.2f}")


def bench_hotpot(limit: int | None, budget: int | None) -> None:
    qs = hotpotqa(DATA / "hotpotqa-distractor-sample" / "hotpotqa_distractor_sample.jsonl")[:limit]
    p = Pipeline(Settings())
    multi = {**MULTI_HOP, **({"token_budget": budget} if budget else {})}
    rows: dict[str, list] = {"all 10 paragraphs": [], "leanrag defaults (title fields)": [],
                             "leanrag defaults (plain text, no title field)": [],
                             "leanrag defaults (plain strings)": [],
                             f"leanrag multi-hop (budget {multi['token_budget']})": [],
                             "  same without the hop": []}
    for q in qs:
        text = "\n\n".join(x["text"] for x in q.passages)
        rows["all 10 paragraphs"].append((support_recall(text, q.support), count_tokens(text)))
        plain = [{k: v for k, v in x.items() if k != "title"} for x in q.passages]
        runs = [(q.passages, {}), (plain, {}), ([x["text"] for x in q.passages], {}), (q.passages, multi),
                (q.passages, {**multi, "hop": False})]
        for name, (passages, cfg) in zip(list(rows)[1:], runs, strict=True):
            ctx = p.retrieve(q.text, passages=passages, **cfg)
            rows[name].append((support_recall(ctx.text, q.support), ctx.tokens))
    print(f"\nHotpotQA distractor ({len(qs)} questions, 10 paragraphs each): supporting sentences kept")
    print(f"multi-hop profile: {multi}")
    _table("recall", rows)


def main() -> None:
    one_blas_thread()  # as `rag serve` and the CLI do
    ap = argparse.ArgumentParser()
    ap.add_argument("--scifact-store")
    ap.add_argument("--squad-store")
    ap.add_argument("--only", default="scifact,squad,hotpot")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--hotpot-budget", type=int, help="token budget for HotpotQA (default: the settings')")
    ap.add_argument("--weights", type=Path, help="learned scorers to use instead of rag/retrieve/weights.json")
    args = ap.parse_args()
    if args.weights:  # the generalisation study: scorers trained with a set left out
        import rag.retrieve.rerank as rerank
        from rag.retrieve.features import load_models

        rerank.load_models = functools.partial(load_models, str(args.weights))  # type: ignore[assignment]
    only = set(args.only.split(","))
    if "scifact" in only and args.scifact_store:
        bench_scifact(args.scifact_store, args.limit)
    if "squad" in only and args.squad_store:
        bench_squad(args.squad_store, args.limit)
    if "hotpot" in only:
        bench_hotpot(args.limit, args.hotpot_budget)

if __name__ == "__main__":
    main()
