"""The answer without a model: the best-supported sentences of the lean context, with citations.

The offline default, so that everything runs without a key; also the floor any model must beat.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from rag.answer.prompt import NO_ANSWER, cite
from rag.types import Answer, Context, Usage


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(self, *, count: Callable[[str], int], max_sentences: int = 2, ratio: float = 0.9) -> None:
        self.count = count
        self.max_sentences = max_sentences
        self.ratio = ratio  # a further sentence must score at least this share of the best one

    def answer(self, question: str, context: Context) -> Answer:
        t0 = time.perf_counter()
        units = [(score, label, pos, text)
                 for label, p in enumerate(context.passages, 1)
                 for pos, (text, score) in enumerate(p.sentence_texts())]
        # Headings and fragments name a topic rather than answer anything; fall back to them only if alone.
        statements = [u for u in units if not u[3].lstrip().startswith("#") and len(u[3].split()) >= 4]
        ranked = sorted(statements or units, key=lambda u: -u[0])
        chosen = [u for u in ranked if u[0] >= self.ratio * ranked[0][0]][: self.max_sentences] if units else []
        chosen.sort(key=lambda u: (u[1], u[2]))  # read in context order, not score order
        text = " ".join(" ".join(u[3].split()) for u in chosen) or NO_ANSWER
        labels = sorted({u[1] for u in chosen})
        ms = round((time.perf_counter() - t0) * 1000, 2)
        return Answer(question=question, text=text, citations=cite(labels, context.passages), context=context,
                      usage=Usage(answer_tokens=self.count(text)), cost=0.0,
                      timings={"first_token_ms": ms, "answer_ms": ms}, answerer=self.name,
                      finish_reason="stop")

    def stream(self, question: str, context: Context) -> Iterator[str | Answer]:
        ans = self.answer(question, context)
        yield ans.text
        yield ans
