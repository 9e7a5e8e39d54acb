"""The question and passages the OpenAI-compatible tests ask the fake server about."""
from __future__ import annotations

from rag import Pipeline
from rag.types import Answer

PASSAGES = [
    {"id": "budget", "source": "docs/context-budget.md",
     "text": "Reasoning models take max_completion_tokens as their output budget. The budget covers reasoning "
             "and the visible answer. Reserve about 25,000 tokens when you start."},
    {"id": "bread", "source": "docs/sourdough.md",
     "text": "A sourdough starter is fed with flour and water every day. It smells sour when it is ready."},
]
QUESTION = "Which parameter sets the output budget of a reasoning model?"


def ask(p: Pipeline, **overrides) -> Answer:
    ans = p.answer(QUESTION, passages=PASSAGES, **overrides)
    assert isinstance(ans, Answer)
    return ans
