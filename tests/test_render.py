"""What the CLI prints for a context and an answer (rag/render.py)."""
from __future__ import annotations

from rag.render import answer_text, context_text
from rag.types import Answer, Citation, Context, Drop, Passage, StageTrace, Trace, Usage


def _context() -> Context:
    drops = [Drop(f"c{i}", "did not fit the 350-token budget") for i in range(5)]
    trace = Trace(stages=[StageTrace("budget", 6, 1, 900, 12, 2.5, drops, "stopped: evidence enough")],
                  warnings=["lexical terms are unstemmed"])
    p = Passage("chunk-0123456789abcdef", "d", "docs/q.md", "", "Quokkas  live\non Rottnest.", 0.91, [(10, 35)], 12)
    return Context("Where?", [p], 12, trace)


def test_a_context_shows_its_passages_and_each_stages_drops_up_to_the_limit() -> None:
    text = context_text(_context(), show_dropped=2)
    assert text.startswith("context: 1 passage(s), 12 tokens") and "warning: lexical terms are unstemmed" in text
    assert "[chunk-012345] score 0.910  docs/q.md (10-35)" in text and "    Quokkas live on Rottnest." in text
    assert text.count("dropped c") == 2 and "... and 3 more (--show-dropped N)" in text
    assert "stopped: evidence enough" in text


def test_an_answer_shows_usage_cost_time_and_what_the_model_was_sent() -> None:
    ans = Answer("Where?", "On Rottnest [1].", [Citation(1, "chunk-0123456789abcdef", "d", "docs/q.md", [(10, 35)])],
                 _context(), Usage(100, 40, 30, 20, 10, "usage"), 0.00125,
                 {"retrieve_ms": 12.0, "first_token_ms": 300.0, "total_ms": 900.0}, "openai", model="o3-mini",
                 messages=[{"role": "developer", "content": "Answer from the context."}], attempts=1)
    text = answer_text(ans, show_reasoning=True)
    assert text.startswith("answer: On Rottnest [1].")
    assert "reasoning (20 tokens, usage): (hidden by the model" in text
    assert "usage: prompt 100 (cached 40), completion 30 (reasoning 20, answer 10); cost $0.001250" in text
    assert "--- developer ---\nAnswer from the context." in text
    bare = answer_text(ans, with_text=False, show_context=False)
    assert not bare.startswith("answer:") and "sent to the model" not in bare and "reasoning (" not in bare
