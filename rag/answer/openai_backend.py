"""Answers from a model endpoint (``rag.llm``): the prompt in, the cited answer with its usage out."""
from __future__ import annotations

from collections.abc import Iterator

from rag.answer.prompt import build_messages, cite, cited_labels
from rag.blocks import label
from rag.llm.endpoint import Endpoint, last
from rag.types import Answer, Context


class OpenAIAnswerer:
    name = "openai"

    def __init__(self, endpoint: Endpoint, *, name: str = "openai") -> None:
        self.endpoint = endpoint
        self.name = name

    def answer(self, question: str, context: Context) -> Answer:
        done = last(self._answer(question, context, stream=False))
        assert isinstance(done, Answer)  # a stream's last item is its Answer
        return done

    def stream(self, question: str, context: Context) -> Iterator[str | Answer]:
        """Yields the visible answer as it arrives, then the finished ``Answer``."""
        return self._answer(question, context, stream=True)

    def _answer(self, question: str, context: Context, *, stream: bool) -> Iterator[str | Answer]:
        passages = [(p.id, label(p.title, p.source), p.text) for p in context.passages]
        messages = build_messages(question, passages, self.endpoint.spec)
        for item in self.endpoint.run(messages, stream=stream):
            if isinstance(item, str):
                yield item
                continue
            self.endpoint.check_length(item)
            yield Answer(
                question=question, text=item.text, citations=cite(cited_labels(item.text), context.passages),
                context=context, usage=item.usage, cost=item.cost,
                timings={"first_token_ms": item.first_token_ms, "answer_ms": item.ms}, answerer=self.name,
                model=self.endpoint.cfg.model, finish_reason=item.finish_reason, messages=messages,
                reasoning=item.reasoning or None, attempts=item.attempts)
