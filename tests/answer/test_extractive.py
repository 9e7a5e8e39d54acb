"""The extractive answerer: the best-supported sentences, in reading order, with their citations
(rag/answer/extractive.py)."""
from __future__ import annotations

from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.prompt import NO_ANSWER
from rag.tokens import count_tokens
from rag.types import Context, Passage, Trace


def _context(*passages: list[tuple[str, float]]) -> Context:
    out = []
    for i, sents in enumerate(passages, 1):
        text, spans, pos = "", [], 0
        for s, score in sents:
            spans.append((pos, pos + len(s), score))
            text += s + " "
            pos += len(s) + 1
        text = text.rstrip()
        out.append(Passage(f"p{i}", f"d{i}", f"s{i}.md", "", text, max(sc for _, sc in sents), [(0, len(text))],
                           0, spans))
    return Context("q", out, 0, Trace())


def test_extractive_picks_the_best_supported_sentences_in_reading_order() -> None:
    ctx = _context([("Noise here.", 0.1), ("Second best.", 0.85)], [("The best.", 0.9), ("Weak.", 0.2)])
    ans = ExtractiveAnswerer(count=count_tokens, max_sentences=2, ratio=0.9).answer("q", ctx)
    assert ans.text == "Second best. The best."
    assert [c.id for c in ans.citations] == ["p1", "p2"] and ans.usage.answer_tokens > 0
    one = ExtractiveAnswerer(count=count_tokens, max_sentences=1).answer("q", ctx)
    assert one.text == "The best." and [c.label for c in one.citations] == [2]
    empty = ExtractiveAnswerer(count=count_tokens).answer("q", Context("q", [], 0, Trace()))
    assert empty.text == NO_ANSWER and empty.citations == []
