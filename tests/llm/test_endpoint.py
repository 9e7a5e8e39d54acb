"""The model endpoint's faults and retries, through a real client against the fake server: what is retried,
what is waited for, and how each refusal is named."""
from __future__ import annotations

import logging
import time

import pytest

from rag.llm.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMNotFound,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    ReasoningBudgetExhausted,
)
from tests.fake_openai import API_KEY
from tests.openai_case import ask


def test_exhausted_reasoning_budget_is_a_clear_error(openai_pipeline, llm) -> None:
    llm.script([{"finish": "length"}])
    with pytest.raises(ReasoningBudgetExhausted, match="max_completion_tokens") as err:
        ask(openai_pipeline, llm_model="o3-mini", max_completion_tokens=500)
    assert err.value.usage.reasoning_tokens == 500           # what was billed is still reported
    assert len(llm.requests()) == 1                          # not retried: it would fail the same way


def test_429_is_retried_after_retry_after(openai_pipeline, llm) -> None:
    llm.script([{"status": 429, "retry_after": "0.4"}])
    t0 = time.perf_counter()
    ans = ask(openai_pipeline)
    assert time.perf_counter() - t0 >= 0.4
    assert ans.attempts == 2 and len(llm.requests()) == 2


def test_5xx_is_retried_with_backoff_then_gives_up(openai_pipeline, llm, caplog) -> None:
    llm.script([{"status": 500}, {"status": 503}])
    with caplog.at_level(logging.WARNING):
        assert ask(openai_pipeline).attempts == 3
    assert "retry 1/3" in caplog.text and API_KEY not in caplog.text
    llm.script([{"status": 500}] * 5)
    with pytest.raises(LLMUnavailable, match="500"):
        ask(openai_pipeline, llm_max_retries=2)
    assert len(llm.requests()) == 3


def test_long_retry_after_is_not_waited_for(openai_pipeline, llm) -> None:
    llm.script([{"status": 429, "retry_after": "120"}])
    t0 = time.perf_counter()
    with pytest.raises(LLMRateLimited) as err:
        ask(openai_pipeline, llm_retry_max_wait=5)
    assert time.perf_counter() - t0 < 5 and err.value.retry_after == pytest.approx(120)
    assert err.value.status == 429


def test_bad_key_is_named_not_retried_and_not_echoed(openai_pipeline, llm) -> None:
    wrong = "sk-wrong-key-that-must-not-leak-42"
    with pytest.raises(LLMAuthError, match="refused the API key") as err:
        ask(openai_pipeline, llm_api_key=wrong)
    assert wrong not in str(err.value) and len(llm.requests()) == 1


def test_unknown_model_is_named(openai_pipeline, llm) -> None:
    with pytest.raises(LLMNotFound, match="'gpt-17'"):
        ask(openai_pipeline, llm_model="gpt-17")
    assert len(llm.requests()) == 1


def test_rejected_parameter_is_named_and_not_retried(openai_pipeline, llm) -> None:
    # a wrong override makes us send temperature to a reasoning model: the 400 names it
    with pytest.raises(LLMBadRequest, match="temperature"):
        ask(openai_pipeline, llm_model="o3-mini", temperature=0.5, llm_model_spec={"sampling": True})
    assert len(llm.requests()) == 1


def test_timeout(openai_pipeline, llm) -> None:
    llm.script([{"delay": 3}])
    t0 = time.perf_counter()
    with pytest.raises(LLMTimeout, match="did not answer within 0.5 s"):
        ask(openai_pipeline, llm_timeout=0.5, llm_max_retries=0)
    assert time.perf_counter() - t0 < 2.5


def test_connection_refused_is_unavailable(openai_pipeline, embedder) -> None:
    from tests.conftest import free_port

    with pytest.raises(LLMUnavailable, match="cannot reach"):
        ask(openai_pipeline, llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_max_retries=1)


def test_azure_openai_deployment(openai_pipeline, llm) -> None:
    ans = ask(openai_pipeline, llm_base_url=llm.root, llm_model="my-o3-deployment", llm_model_family="o3-mini",
              llm_api_version="2025-04-01-preview")
    (req,) = llm.requests()
    assert req["path"] == "/openai/deployments/my-o3-deployment/chat/completions"
    assert "api-version=2025-04-01-preview" in req["query"] and req["headers"]["api-key"] == API_KEY
    assert "max_completion_tokens" in req["body"] and [m["role"] for m in req["body"]["messages"]][0] == "developer"
    assert ans.text
