"""Grid-search pruning settings on SQuAD questions outside the 300 test questions.

Candidates, rerank scores and the hop are computed once per question (``Pipeline.rank``); each setting
selects from them as ``retrieve`` does (``Pipeline.select``).
    .venv/bin/python scripts/tune_prune.py --squad-store DIR [--n 400]
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from rag import Pipeline, Settings
from rag.evaluate.datasets import squad_split
from rag.evaluate.metrics import answer_kept, median, percentile

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
    cached = [(q, p.rank(q.text)) for q in qs]
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
        point = s.replace(**cfg)
        kept, toks = [], []
        for q, ranked in cached:
            ctx = p.select(q.text, ranked, settings=point)
            kept.append(answer_kept(ctx.text, q.answers))
            toks.append(ctx.tokens)
        print(f"{100 * sum(kept) / len(kept):6.1f}%  median {median(toks):5.0f}  "
              f"p90 {percentile(toks, .9):5.0f}  {cfg}")


if __name__ == "__main__":
    main()
