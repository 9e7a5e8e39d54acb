"""The main job on the embedded defaults: each question of corpus/questions.jsonl against the store,
with the lean context that would reach the model and what pruning saved."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rag import Pipeline, Settings
from rag.evaluate.metrics import answer_kept, median


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    questions = [json.loads(line) for line in (root / "corpus" / "questions.jsonl").read_text().splitlines()
                 if line.strip()]
    pipeline = Pipeline.from_settings(Settings())
    kept, tokens, before = 0, [], []
    for q in questions:
        ctx = pipeline.retrieve(q["question"])
        hit = answer_kept(ctx.text, [q["answer"]])
        kept += hit
        tokens.append(ctx.tokens)
        before.append(ctx.trace.stages[0].tokens_in)
        print(f"\nQ: {q['question']}\n   gold: {q['answer']}  ({q['source']})  "
              f"{'in context' if hit else 'NOT in context'}; {ctx.tokens} tokens "
              f"(from {ctx.trace.stages[0].n_in} candidates, {ctx.trace.stages[0].tokens_in} tokens)")
        for p in ctx.passages:
            print(f"   [{p.score:.2f}] {Path(p.source).name}: {' '.join(p.text.split())}")
    print(f"\n{kept}/{len(questions)} gold answers in the lean context; median {median(tokens):.0f} context "
          f"tokens vs. {median(before):.0f} in the candidate pool")
    return 0


if __name__ == "__main__":
    sys.exit(main())
