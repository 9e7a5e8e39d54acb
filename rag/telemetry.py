"""OpenTelemetry spans for each retrieval stage, the pruning and the answer, through the API only.

An application that configures a tracer provider (the OpenTelemetry SDK and an exporter) sees a
``leanrag.retrieve`` span with one child per stage, each carrying its counts, tokens and note, and a
``leanrag.answer`` span with the model's usage and cost, both under one ``leanrag.question`` span for
``Pipeline.answer`` and one ``leanrag.request`` span for each call of the HTTP API. Without one, the
API's tracer is a no-op: no exporter, no cost beyond a function call.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel

from rag.types import Answer, StageTrace

_tracer = otel.get_tracer("leanrag")  # a proxy: it follows a provider the application sets later


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[otel.Span]:
    with _tracer.start_as_current_span(name, attributes=_clean(attributes)) as sp:
        yield sp


def stage_attributes(sp: otel.Span, stage: StageTrace) -> None:
    sp.set_attributes(_clean({"leanrag.n_in": stage.n_in, "leanrag.n_out": stage.n_out,
                              "leanrag.tokens_in": stage.tokens_in, "leanrag.tokens_out": stage.tokens_out,
                              "leanrag.note": stage.note[:500], "leanrag.dropped": len(stage.dropped)}))


def prune_events(sp: otel.Span, stages: list[StageTrace]) -> None:
    """Pruning times its own steps: each becomes an event of the pruning span."""
    for st in stages:
        sp.add_event(st.name, _clean({"leanrag.n_in": st.n_in, "leanrag.n_out": st.n_out,
                                      "leanrag.tokens_out": st.tokens_out, "leanrag.ms": st.ms,
                                      "leanrag.note": st.note[:500]}))


def current() -> otel_context.Context:
    """The tracing context now (its span is the parent of what starts in it)."""
    return otel_context.get_current()


def answered(ans: Answer, started_ns: int, parent: otel_context.Context | None = None) -> None:
    """A span from ``started_ns`` to now for one answer (streamed or not), with its usage and cost, under
    ``parent`` (the context the answer began in)."""
    u = ans.usage
    sp = _tracer.start_span("leanrag.answer", context=parent, start_time=started_ns, attributes=_clean({
        "leanrag.answerer": ans.answerer, "leanrag.model": ans.model or None, "leanrag.abstained": ans.abstained,
        "leanrag.prompt_tokens": u.prompt_tokens, "leanrag.cached_tokens": u.cached_tokens,
        "leanrag.completion_tokens": u.completion_tokens, "leanrag.reasoning_tokens": u.reasoning_tokens,
        "leanrag.cost_usd": ans.cost}))
    sp.end()


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
