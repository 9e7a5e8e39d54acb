"""Grid-search pruning settings on SQuAD questions outside the 300 test questions.

Candidates and rerank scores are computed once per question; only the pruner runs per setting.
    .venv/bin/python scripts/tune_prune.py --squad-store DIR [--n 400]
"""
from __future__ import annotations

import argparse
import copy
import itertools
from pathlib import Path

from rag import Pipeline, Settings
from rag.evaluate.datasets import squad_split
from rag.evaluate.metrics import answer_kept, median, percentile
from rag.pipeline import _prune_config
from rag.retrieve.prune import Pruner
from rag.retrieve.rerank import score_sentences
from rag.tokens import count_tokens
from rag.types import Trace

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--squad-store", required=True)
    ap.add_argument("--n", type=int, default=400)
    args = ap.parse_args()
    train, _ = squad_split(DATA / "squad-v1.1-dev" / "dev-v1.1.json")
    qs = train[-args.n:]
    p = Pipeline(Settings(store_path=args.squad_store))
    s = p.settings
    cached = []
    for q in qs:
        ranked, ev, qvec, idf, *_ = p._ranked(q.text, s, None, None, Trace())
        ranked = score_sentences(q.text, ranked, ev, qvec=qvec, idf=idf)
        cached.append((q, ranked, {k: e.vector for k, e in ev.items()}))
    grid = {
        "token_budget": [110, 120, 130, 140, 150],
        "sentence_min_score": [0.0, 0.05],
        "adaptive_cut": [True, False],
        "min_score": [None, 0.02],
        "sentence_neighbors": [0],
    }
    print(f"{len(qs)} SQuAD non-test questions")
    for values in itertools.product(*grid.values()):
        cfg = dict(zip(grid, values, strict=True))
        pruner = Pruner(_prune_config(s.replace(**cfg)), lambda t: count_tokens(t))
        kept, toks = [], []
        for q, ranked, vecs in cached:
            passages, _ = pruner.run(copy.deepcopy(ranked), vecs)
            text = "\n\n".join(x.text for x in passages)
            kept.append(answer_kept(text, q.answers))
            toks.append(count_tokens(text))
        print(f"{100 * sum(kept) / len(kept):6.1f}%  median {median(toks):5.0f}  "
              f"p90 {percentile(toks, .9):5.0f}  {cfg}")


if __name__ == "__main__":
    main()
