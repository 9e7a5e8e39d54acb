"""A streamed answer: iterate for the text as it arrives; ``.answer`` holds the finished Answer."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from rag.types import Answer


class AnswerStream:
    """Example::

        stream = pipeline.answer("question", stream=True)
        for text in stream:
            print(text, end="", flush=True)
        print(stream.answer.usage)
    """

    def __init__(self, events: Iterator[str | Answer], finish: Callable[[Answer], Answer]) -> None:
        self._events = events
        self._finish = finish
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        for event in self._events:
            if isinstance(event, Answer):
                self.answer = self._finish(event)
            else:
                yield event

    def collect(self) -> Answer:
        """Read the stream to its end and return the Answer."""
        for _ in self:
            pass
        assert self.answer is not None
        return self.answer
