"""How a connection names what went wrong: each upstream status becomes our error, says whether a retry can
help, points at the setting to change for its role (answers or embeddings), and never shows the key."""
from __future__ import annotations

import email.utils
import time

import httpx
import openai
import pytest

from rag.llm.connection import Connection, EndpointConfig, _retry_after
from rag.llm.errors import LLMAuthError, LLMBadRequest, LLMNotFound, LLMRateLimited, LLMTimeout, LLMUnavailable

KEY = "sk-secret-0123456789abcdef"


def status_error(status: int, message: str = "nope", headers: dict | None = None) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://upstream/v1/x")
    response = httpx.Response(status, headers=headers or {}, request=request)
    return openai.APIStatusError(message, response=response, body={"error": {"message": message}})


@pytest.mark.parametrize(("role", "key_hint", "model_hint"), [
    ("llm", "OPENAI_API_KEY or RAG_LLM_API_KEY", "RAG_LLM_MODEL"),
    ("embedding", "RAG_EMBEDDING_API_KEY", "RAG_EMBEDDING_MODEL"),
])
def test_each_status_maps_to_an_error_that_names_the_setting(role: str, key_hint: str, model_hint: str) -> None:
    c = Connection(EndpointConfig("http://upstream/v1", "m", KEY, role=role))  # type: ignore[arg-type]
    cases = [(401, LLMAuthError, False, key_hint), (404, LLMNotFound, False, model_hint),
             (400, LLMBadRequest, False, "rejected"), (429, LLMRateLimited, True, "rate limited"),
             (503, LLMUnavailable, True, "failed (503)")]
    for status, kind, retryable, words in cases:
        err, again = c.translate(status_error(status, f"bad key {KEY}"))
        assert isinstance(err, kind) and again is retryable and words in str(err)
        assert KEY not in str(err) and err.upstream_status == status
    timeout, again = c.translate(openai.APITimeoutError(request=httpx.Request("POST", "http://upstream/v1/x")))
    assert isinstance(timeout, LLMTimeout) and again


def test_retries_stop_at_the_limit_and_honour_retry_after() -> None:
    c = Connection(EndpointConfig("http://upstream/v1", "m", KEY, max_retries=2, backoff=0.0))
    calls = []

    def failing() -> None:
        calls.append(1)
        raise status_error(429, headers={"retry-after": "0"})

    with pytest.raises(LLMRateLimited):
        c.call(failing)
    assert len(calls) == 3
    result, attempts = c.call(lambda: "ok")
    assert (result, attempts) == ("ok", 1)
    too_long = Connection(EndpointConfig("http://upstream/v1", "m", KEY, max_retries=5, max_wait=1.0))
    calls.clear()

    def slow_down() -> None:
        calls.append(1)
        raise status_error(429, headers={"retry-after": "30"})

    with pytest.raises(LLMRateLimited):
        too_long.call(slow_down)
    assert len(calls) == 1  # a Retry-After past max_wait is not waited for


def test_retry_after_forms() -> None:
    class R:
        def __init__(self, headers):
            self.headers = headers

    assert _retry_after(R({"retry-after": "3"})) == 3.0
    assert _retry_after(R({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    date = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= _retry_after(R({"retry-after": date})) <= 10.5
    assert _retry_after(R({"retry-after": "soon"})) is None and _retry_after(R({})) is None
