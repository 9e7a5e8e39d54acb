"""The endpoint the operator's settings describe (rag/llm/config.py): model, URL, key, prices, budgets."""
from __future__ import annotations

import pytest
from pydantic import SecretStr

from rag.llm.config import make_endpoint
from rag.settings import Settings
from rag.tokens import count_tokens


def test_the_openai_endpoint_carries_the_operators_model_key_and_budgets() -> None:
    s = Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="o3-mini", llm_api_key=SecretStr("sk-x"),
                 max_completion_tokens=3000, reasoning_effort="low", llm_timeout=7.0, llm_max_retries=1)
    e = make_endpoint(s, "openai", count=count_tokens)
    assert (e.cfg.base_url, e.cfg.model, e.cfg.api_key) == ("http://127.0.0.1:9/v1", "o3-mini", "sk-x")
    assert (e.cfg.timeout, e.cfg.max_retries, e.cfg.reasoning_effort) == (7.0, 1, "low")
    assert e.budget == 3000 and e.spec.token_param == "max_completion_tokens"
    assert "sk-x" not in repr(e.cfg)  # the key never reaches a log line


def test_prices_and_the_family_of_a_deployment_name_apply() -> None:
    s = Settings(llm_model="my-deployment", llm_model_family="o3-mini",
                 llm_prices={"my-deployment": (1.0, 0.5, 4.0)}, max_completion_tokens=10**6)
    e = make_endpoint(s, "openai", count=count_tokens)
    assert e.spec.token_param == "max_completion_tokens"  # the family's, not the unknown model's default
    assert e.spec.cost(1_000_000, 0, 1_000_000) == pytest.approx(5.0)
    assert e.budget == e.spec.max_output  # the model's ceiling caps a larger setting


def test_the_local_endpoint_answers_greedily_on_the_configured_port() -> None:
    e = make_endpoint(Settings(local_port=8799, llm_model_family="o3-mini"), "local", count=count_tokens)
    assert e.cfg.base_url is not None and ":8799" in e.cfg.base_url
    assert (e.cfg.temperature, e.cfg.api_key) == (0.0, "local")
    assert e.spec.token_param == "max_tokens"  # a family names an openai deployment, never the local model
    hot = make_endpoint(Settings(temperature=0.7), "local", count=count_tokens)
    assert hot.cfg.temperature == pytest.approx(0.7)
