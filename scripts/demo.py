"""The main job on the embedded defaults: answer each question of corpus/questions.jsonl from the lean
context, and show what reached the answerer and what pruning saved.

With no endpoint configured the answerer is extractive (offline); set RAG_ANSWERER=local after
`make llm-serve`, or RAG_LLM_BASE_URL / OPENAI_API_KEY for a real model.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rag import Pipeline, Settings
from rag.evaluate.metrics import answer_contains, answer_kept, median


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    questions = [json.loads(line) for line in (root / "corpus" / "questions.jsonl").read_text().splitlines()
                 if line.strip()]
    pipeline = Pipeline.from_settings(Settings())
    kept = answered = 0
    tokens, before, ms = [], [], []
    for q in questions:
        ans = pipeline.answer(q["question"])
        ctx = ans.context
        in_ctx, in_answer = answer_kept(ctx.text, [q["answer"]]), answer_contains(ans.text, [q["answer"]])
        kept += in_ctx
        answered += in_answer
        tokens.append(ctx.tokens)
        before.append(ctx.trace.stage("candidates").tokens_in)
        ms.append(ans.timings["total_ms"])
        cites = ", ".join(f"[{c.label}] {Path(c.source).name}" for c in ans.citations) or "none"
        print(f"\nQ: {q['question']}\nA: {ans.text}\n   cites {cites}; gold '{q['answer']}' "
              f"{'in the answer' if in_answer else 'in the context' if in_ctx else 'MISSED'}; "
              f"context {ctx.tokens} tokens (from {ctx.trace.stage('candidates').n_in} candidates, "
              f"{ctx.trace.stage('candidates').tokens_in} tokens); {ans.timings['total_ms']:.0f} ms")
    print(f"\nanswerer: {ans.answerer} {ans.model}".rstrip())
    print(f"{answered}/{len(questions)} gold answers in the answer, {kept}/{len(questions)} in the lean context; "
          f"median {median(tokens):.0f} context tokens vs. {median(before):.0f} in the candidate pool; "
          f"median {median(ms):.0f} ms per question")
    return 0


if __name__ == "__main__":
    sys.exit(main())
