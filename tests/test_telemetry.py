"""OpenTelemetry: with a tracer provider set by the application, each stage, the pruning and the answer
are spans with their numbers; without one nothing is recorded."""
from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rag import Pipeline, Settings

pytestmark = pytest.mark.integration

PASSAGES = ["Quokkas live on Rottnest Island. They eat leaves and grasses.",
            "Sourdough needs a starter. It proofs for hours.",
            "Reciprocal rank fusion combines ranked lists; the usual constant is 60."]


def test_stage_spans_reach_the_applications_exporter(tmp_path, embedder) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # once per process, as an application does at start-up
    p = Pipeline(Settings(store_path=tmp_path / "s", answerer="extractive"), embedder=embedder)
    ans = p.answer("What do quokkas eat?", passages=PASSAGES)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert {"leanrag.retrieve", "leanrag.candidates", "leanrag.rerank", "leanrag.sentence scores",
            "leanrag.prune", "leanrag.answer"} <= set(spans)
    root = spans["leanrag.retrieve"]
    assert spans["leanrag.candidates"].parent.span_id == root.context.span_id
    assert spans["leanrag.candidates"].attributes["leanrag.n_out"] == 3
    assert root.attributes["leanrag.tokens"] == ans.context.tokens > 0
    events = [e.name for e in spans["leanrag.prune"].events]
    assert [st.name for st in ans.trace.stages if st.name in events] == events and "budget" in events
    assert spans["leanrag.answer"].attributes["leanrag.answerer"] == "extractive"
    # the retrieval and the answer are one question's, not two roots
    question = spans["leanrag.question"]
    assert spans["leanrag.retrieve"].parent.span_id == question.context.span_id
    assert spans["leanrag.answer"].parent.span_id == question.context.span_id and question.parent is None
