"""The reasoning split of a streamed answer and usage counting when the endpoint reports less
(rag/llm/usage.py)."""
from __future__ import annotations

import random

import pytest

from rag.llm.usage import ThinkSplitter, usage_from_response
from rag.tokens import count_tokens


@pytest.mark.parametrize("seed", range(20))
def test_think_splitter_on_any_chunking(seed: int) -> None:
    rng = random.Random(seed)
    text = rng.choice(["<think>plan: read [1]</think>\n\nThe answer is 42 [1].",
                       "  <think>\nhm <b>x</b></think>The answer is 42 [1].",
                       "plan: read [1]</think>The answer is 42 [1]."])  # no opening tag (R1 distills)
    cuts = sorted(rng.sample(range(1, len(text)), rng.randint(0, 8)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    s = ThinkSplitter(orphan_close=True)
    parts = [s.feed(p) for p in pieces] + [s.close()]
    assert "".join(a for _, a in parts).strip() == "The answer is 42 [1]."
    assert "think>" not in "".join(r for r, _ in parts)


def test_plain_answers_stream_without_delay() -> None:
    s = ThinkSplitter()
    assert s.feed("The answer") == ("", "The answer")   # not held back waiting for a tag
    assert s.feed(" </think> is odd") == ("", " </think> is odd")


def test_usage_counts_what_the_endpoint_does_not_report() -> None:
    u = usage_from_response(None, reasoning_text="two words", answer_text="Paris.", count=count_tokens)
    assert u.reasoning_source == "counted" and u.reasoning_tokens == count_tokens("two words")
    assert u.completion_tokens == u.reasoning_tokens + u.answer_tokens
