"""The translation both framework faces share: their documents in as caller passages, and leanrag's
kept passages out as metadata they can carry."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.types import Context, Passage


def resolve_pipeline(pipeline: Pipeline | None, settings: Settings | None) -> Pipeline:
    """A face is built with ``pipeline=`` (shared, already loaded) or ``settings=`` (its own pipeline)."""
    if pipeline is not None and settings is not None:
        raise ValueError("give pipeline= or settings=, not both")
    return pipeline if pipeline is not None else Pipeline(settings or Settings())


class LeanFace(BaseModel):
    """The fields of a framework component (both frameworks' components are pydantic models): built with
    ``pipeline=`` or ``settings=``; either way ``lean`` is the pipeline used."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    pipeline: Pipeline | None = None
    settings: Settings | None = None
    overrides: dict[str, Any] = Field(default_factory=dict, description="per-call settings, e.g. token_budget")

    @model_validator(mode="after")
    def _one_pipeline(self) -> LeanFace:
        self.pipeline = resolve_pipeline(self.pipeline, self.settings)
        return self

    @property
    def lean(self) -> Pipeline:
        assert self.pipeline is not None  # set by the validator
        return self.pipeline


def as_passages(texts: Sequence[str], metadata: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """Caller passages keyed by position (a framework's own ids may repeat or be missing)."""
    return [{"id": f"p{i}", "text": text, "source": str(meta.get("source") or meta.get("file_name") or ""),
             "title": str(meta.get("title") or "")}
            for i, (text, meta) in enumerate(zip(texts, metadata, strict=True))]


def position(p: Passage) -> int:
    """Which input a kept passage came from (see ``as_passages``)."""
    return int(p.id[1:])


def lean_metadata(p: Passage, ctx: Context, caller_id: str | None = None) -> dict[str, Any]:
    """What leanrag adds to a kept document's metadata: its score, kept character spans, and why it stayed.
    ``leanrag_id`` is the caller's own id for a document the caller passed (not leanrag's positional "p0"),
    else the stored document's id."""
    return {"leanrag_id": caller_id or p.doc_id or p.id, "leanrag_score": round(p.score, 4), "leanrag_spans": p.spans,
            "leanrag_tokens": p.tokens, "leanrag_kept": ctx.trace.stop_reason or "kept by rerank and prune"}
