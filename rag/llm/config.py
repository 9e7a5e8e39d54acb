"""The endpoint the operator's settings describe: the configured OpenAI-compatible server, or the local
llama.cpp one (``rag llm serve``)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from rag.llm import local
from rag.llm.endpoint import Endpoint, EndpointConfig
from rag.llm.models import model_spec
from rag.settings import Settings


def make_endpoint(s: Settings, kind: Literal["openai", "local"], *, count: Callable[[str], int]) -> Endpoint:
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
    return Endpoint(cfg, spec, count=count)
