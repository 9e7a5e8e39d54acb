"""One answerer for the settings: ``openai`` (any compatible endpoint), ``local`` (llama.cpp), ``extractive``."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal, Protocol

from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.openai_backend import OpenAIAnswerer
from rag.llm.config import make_endpoint
from rag.llm.endpoint import Endpoint
from rag.settings import Settings
from rag.types import Answer, Context


class Answerer(Protocol):
    name: str

    def answer(self, question: str, context: Context) -> Answer: ...

    def stream(self, question: str, context: Context) -> Iterator[str | Answer]: ...


def resolve_answerer(s: Settings) -> Literal["extractive", "openai", "local"]:
    """``auto`` means openai when an endpoint or a key is configured, else extractive (offline)."""
    if s.answer.answerer == "auto":
        return "openai" if (s.answer.llm_base_url or s.answer.llm_api_key) else "extractive"
    return s.answer.answerer


def make_answerer(s: Settings, *, count: Callable[[str], int], endpoint: Endpoint | None = None) -> Answerer:
    """The answerer for ``s``; a model answerer on ``endpoint`` when given (one client shared with the LLM
    reranker), else on a new endpoint from the settings."""
    kind = resolve_answerer(s)
    if kind == "extractive":
        return ExtractiveAnswerer(count=count, max_sentences=s.answer.extractive_sentences)
    return OpenAIAnswerer(endpoint or make_endpoint(s, kind, count=count), name=kind)
