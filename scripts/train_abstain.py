"""Learn the answer path's abstention model (``abstain`` in rag/retrieve/weights.json), on training data only.

    .venv/bin/python scripts/train_abstain.py --squad-store DIR [--squad-n 1200] [--sets squad,hotpotqa] [--out F]

Each example is a final context, as the answer path sees it; the label says whether the answer is absent.
Two sets, weighing the same:
- SQuAD dev questions outside the 300 test questions and outside the 300 that scripts/bench_abstain.py
  chooses its threshold on: each against the whole store (answerable) and against the store without
  its article (a ``where`` filter; not answerable);
- HotpotQA questions 0-49, over their own paragraphs with and without ``title`` fields: all ten
  (answerable), and the eight distractors alone, the two supporting paragraphs left out (not answerable).
Only queries phrased as questions with scored sentences are judged by the model, so only they train it.
``--sets`` leaves a set out (the generalisation study in BENCHMARKS.md).
The sentence and passage models must be trained first (scripts/train_scorers.py): their scores are inputs.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_abstain import DATA, SQUAD, articles, hotpot_contexts, squad_contexts  # noqa: E402
from train_scorers import fit  # noqa: E402

from rag import Pipeline, Settings  # noqa: E402
from rag.answer.abstain import abstain_features, best_answer  # noqa: E402
from rag.evaluate.datasets import hotpotqa, squad_split  # noqa: E402
from rag.retrieve.features import ABSTAIN_FEATURES, WEIGHTS_FILE  # noqa: E402
from rag.text import is_question  # noqa: E402
from rag.types import Context  # noqa: E402


def rows(ctxs: list[Context], label: int) -> tuple[list[np.ndarray], list[int]]:
    judged = [c for c in ctxs if c.passages and is_question(c.question) and best_answer(c) is not None]
    return [abstain_features(c)[0] for c in judged], [label] * len(judged)


def squad_fit_contexts(p: Pipeline, n: int) -> tuple[list[Context], list[Context]]:
    train, _ = squad_split(SQUAD)
    held = {q.text for q in random.Random(5).sample(train, 300)}  # bench_abstain's threshold questions
    qs = [q for q in random.Random(2).sample(train, n + 300) if q.text not in held][:n]
    inside, outside = squad_contexts(p, qs, articles())
    return inside, outside


def hotpot_fit_contexts(p: Pipeline) -> tuple[list[Context], list[Context]]:
    qs = hotpotqa(DATA / "hotpotqa-distractor-sample" / "hotpotqa_distractor_sample.jsonl")[:50]
    answerable, left_out = hotpot_contexts(p, qs)
    return [c for v in answerable.values() for c in v], [c for v in left_out.values() for c in v]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--squad-store", required=True)
    ap.add_argument("--squad-n", type=int, default=1200)
    ap.add_argument("--sets", default="squad,hotpotqa", help="the sets the model learns from")
    ap.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    args = ap.parse_args()
    p = Pipeline(Settings(store_path=args.squad_store))
    collect = {"squad": lambda: squad_fit_contexts(p, args.squad_n), "hotpotqa": lambda: hotpot_fit_contexts(p)}
    xs, ys, ws, counts = [], [], [], {}
    for name in args.sets.split(","):
        inside, outside = collect[name]()
        xi, yi = rows(inside, 0)
        xo, yo = rows(outside, 1)
        xs += xi + xo
        ys += yi + yo
        ws += [1.0 / (len(inside) + len(outside))] * (len(yi) + len(yo))  # each set weighs the same
        counts[name] = {"answerable": len(yi), "not_answerable": len(yo)}
    w = np.array(ws) * len(ws)
    model = fit(np.array(xs), np.array(ys), w, ABSTAIN_FEATURES)
    model["trained_on"] = counts
    data = json.loads(args.out.read_text()) if args.out.exists() else json.loads(WEIGHTS_FILE.read_text())
    data["abstain"] = model
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(json.dumps(model, indent=1))


if __name__ == "__main__":
    main()
