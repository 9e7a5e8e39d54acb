"""One answerer for the settings: ``openai`` (any compatible endpoint), ``local`` (llama.cpp), ``extractive``."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from rag.answer import local
from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.models import model_spec
from rag.answer.openai_backend import EndpointConfig, OpenAIAnswerer
from rag.settings import Settings
from rag.types import Answer, Context


class Answerer(Protocol):
    name: str

    def answer(self, question: str, context: Context) -> Answer: ...

    def stream(self, question: str, context: Context) -> Iterator[str | Answer]: ...


def resolve_answerer(s: Settings) -> str:
    """``auto`` means openai when an endpoint or a key is configured, else extractive (offline)."""
    if s.answerer != "auto":
        return s.answerer
    return "openai" if (s.llm_base_url or s.llm_api_key) else "extractive"


def make_answerer(s: Settings, *, count: Callable[[str], int]) -> Answerer:
    kind = resolve_answerer(s)
    if kind == "extractive":
        return ExtractiveAnswerer(count=count, max_sentences=s.extractive_sentences)
    key = s.llm_api_key.get_secret_value() if s.llm_api_key else None
    url: str | None
    temperature: float | None
    if kind == "local":
        model, url, temperature = local.MODEL_ALIAS, local.base_url(s), 0.0 if s.temperature is None else s.temperature
        key, version = "local", None
    else:
        model, url, temperature, version = s.llm_model, s.llm_base_url, s.temperature, s.llm_api_version
    overrides = dict(s.llm_model_spec)
    if model in s.llm_prices:
        overrides.update(zip(("price_input", "price_cached", "price_output"), s.llm_prices[model], strict=True))
    spec = model_spec(model, family=s.llm_model_family if kind == "openai" else None, overrides=overrides)
    cfg = EndpointConfig(base_url=url, model=model, api_key=key, api_version=version, timeout=s.llm_timeout,
                         max_retries=s.llm_max_retries, max_wait=s.llm_retry_max_wait,
                         max_completion_tokens=s.max_completion_tokens, reasoning_effort=s.reasoning_effort,
                         temperature=temperature)
    return OpenAIAnswerer(cfg, spec, count=count, name=kind)
