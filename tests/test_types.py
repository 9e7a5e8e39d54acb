"""The dataclasses between stages (rag/types.py): what a kept passage's sentences are, what serialises, and
what a trace and an answer cost."""
from __future__ import annotations

import json

from rag.types import Answer, Context, IngestReport, ModelCall, Passage, StageTrace, Trace, Usage

SOURCE = "Intro line. Quokkas live on Rottnest. Filler here. They are small."


def _passage() -> Passage:
    # two runs of the source, joined by one space: [12, 37) and [51, 66)
    spans = [(12, 37), (51, 66)]
    text = " ".join(SOURCE[s:e] for s, e in spans)
    return Passage("c1", "d1", "q.md", "Quokka", text, 0.8, spans, 9,
                   sentences=[(12, 37, 0.9), (51, 66, 0.2)])


def test_kept_sentences_are_read_back_from_the_joined_text() -> None:
    assert _passage().sentence_texts() == [("Quokkas live on Rottnest.", 0.9), ("They are small.", 0.2)]


def test_a_context_serialises_without_its_pool_and_joins_passages_by_a_blank_line() -> None:
    trace = Trace(stages=[StageTrace("prune", 3, 1, 90, 9, 1.5)], stop_reason="stopped: evidence enough")
    ctx = Context("Where do quokkas live?", [_passage(), _passage()], 18, trace)
    d = json.loads(json.dumps(ctx.to_dict()))  # JSON as the API sends it
    assert set(d) == {"question", "tokens", "passages", "trace"}
    assert d["trace"]["stages"][0]["name"] == "prune" and d["trace"]["stop_reason"].startswith("stopped")
    assert ctx.text.count("\n\n") == 1 and ctx.trace.stage("prune").n_out == 1


def test_an_answers_total_cost_adds_the_model_calls_made_while_retrieving() -> None:
    trace = Trace(calls=[ModelCall("rerank", "gpt-5-mini", 100, 0, 10, 5, 0.001, 20.0)])
    ans = Answer("q?", "A.", [], Context("q?", [], 0, trace), Usage(prompt_tokens=50), 0.002, {}, "openai")
    d = ans.to_dict()
    assert abs(d["total_cost"] - 0.003) < 1e-12 and d["usage"]["prompt_tokens"] == 50
    assert ans.trace is trace and abs(trace.cost - 0.001) < 1e-12


def test_ingest_speed_is_zero_before_anything_was_timed() -> None:
    assert IngestReport(embedded=10).to_dict()["chunks_per_second"] == 0.0
    assert IngestReport(embedded=10, seconds=4.0).chunks_per_second == 2.5
