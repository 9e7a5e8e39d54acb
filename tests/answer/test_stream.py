"""A streamed answer (rag/answer/stream.py): text as it arrives, the finished Answer at the end."""
from __future__ import annotations

from rag.answer.stream import AnswerStream
from rag.types import Answer, Context, Trace, Usage


def _answer(text: str) -> Answer:
    ctx = Context("q?", [], 0, Trace())
    return Answer("q?", text, [], ctx, Usage(), 0.0, {}, "test")


def test_text_streams_in_order_and_the_answer_is_finished_once() -> None:
    finished: list[Answer] = []

    def finish(a: Answer) -> Answer:
        finished.append(a)
        a.timings = {"total_ms": 1.0}
        return a

    stream = AnswerStream(iter(["Par", "is", ".", _answer("Paris.")]), finish)
    assert stream.answer is None  # nothing read yet
    assert list(stream) == ["Par", "is", "."]
    assert stream.answer is not None and stream.answer.text == "Paris." and stream.answer.timings == {"total_ms": 1.0}
    assert len(finished) == 1


def test_collect_reads_to_the_end() -> None:
    stream = AnswerStream(iter(["a", "b", _answer("ab")]), lambda a: a)
    assert stream.collect().text == "ab"
