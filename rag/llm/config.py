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
    a = s.answer
    key = a.llm_api_key.get_secret_value() if a.llm_api_key else None
    url: str | None
    temperature: float | None
    if kind == "local":
        model, url, temperature = local.MODEL_ALIAS, local.base_url(s), 0.0 if a.temperature is None else a.temperature
        key, version = "local", None
    else:
        model, url, temperature, version = a.llm_model, a.llm_base_url, a.temperature, a.llm_api_version
    overrides = dict(a.llm_model_spec)
    if model in a.llm_prices:
        overrides.update(zip(("price_input", "price_cached", "price_output"), a.llm_prices[model], strict=True))
    spec = model_spec(model, family=a.llm_model_family if kind == "openai" else None, overrides=overrides)
    cfg = EndpointConfig(base_url=url, model=model, api_key=key, api_version=version, timeout=a.llm_timeout,
                         max_retries=a.llm_max_retries, max_wait=a.llm_retry_max_wait,
                         max_completion_tokens=a.max_completion_tokens, reasoning_effort=a.reasoning_effort,
                         temperature=temperature)
    return Endpoint(cfg, spec, count=count)
