"""How an OpenAI-compatible server is reached: the official client, retries of what is worth retrying (429,
5xx, timeouts, lost connections, honouring ``Retry-After``), and errors that name their cause and the setting
to change. Shared by the chat endpoint (answers, the LLM reranker) and the remote embedder. The API key is
never logged and never appears in an error.
"""
from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import openai

from rag.llm.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMError,
    LLMNotFound,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    scrub,
)
from rag.net import redact

log = logging.getLogger(__name__)
T = TypeVar("T")

# The settings an error message points at, per use of a connection.
_HINTS = {
    "llm": ("model endpoint", "OPENAI_API_KEY or RAG_LLM_API_KEY", "RAG_LLM_MODEL and RAG_LLM_BASE_URL"),
    "embedding": ("embedding endpoint", "RAG_EMBEDDING_API_KEY",
                  "RAG_EMBEDDING_MODEL and RAG_EMBEDDING_BASE_URL"),
}


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str | None
    model: str
    api_key: str | None = field(repr=False)  # never in a log line or a traceback's locals
    api_version: str | None = None         # set for Azure OpenAI
    timeout: float = 60.0
    max_retries: int = 3
    backoff: float = 0.5                   # first retry delay, doubled each time, with jitter
    max_wait: float = 30.0                 # longest Retry-After honoured before giving up
    max_completion_tokens: int = 25_000
    reasoning_effort: str | None = None
    temperature: float | None = None
    role: Literal["llm", "embedding"] = "llm"


class Connection:
    """The client for ``cfg`` (made on first use) and ``call``, which runs one request with retries."""

    def __init__(self, cfg: EndpointConfig) -> None:
        self.cfg = cfg
        self._client: openai.OpenAI | None = None

    @property
    def client(self) -> openai.OpenAI:
        if self._client is None:
            c = self.cfg
            # ``call`` owns retries, so that they are counted and Retry-After is capped.
            common: dict[str, Any] = {"api_key": c.api_key or "not-needed", "timeout": c.timeout, "max_retries": 0}
            if c.api_version:
                self._client = openai.AzureOpenAI(azure_endpoint=c.base_url or "", api_version=c.api_version, **common)
            else:
                self._client = openai.OpenAI(base_url=c.base_url, **common)
        return self._client

    def call(self, request: Callable[[], T]) -> tuple[T, int]:
        """``request()``'s result and the attempts it took; our error (``LLMError``) once retrying cannot help."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return request(), attempt
            except openai.APIError as e:
                err, retryable = self.translate(e)
            if not retryable or attempt > self.cfg.max_retries:
                raise err
            delay = self.cfg.backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
            if err.retry_after is not None:
                if err.retry_after > self.cfg.max_wait:
                    raise err
                delay = err.retry_after
            log.warning("%s; retry %d/%d in %.2f s", err, attempt, self.cfg.max_retries, delay)
            time.sleep(delay)

    def translate(self, e: openai.APIError) -> tuple[LLMError, bool]:
        """Our error for the client's, and whether a retry may help."""
        what, key_hint, model_hint = _HINTS[self.cfg.role]
        where, model = redact(self.cfg.base_url or "api.openai.com"), self.cfg.model
        if isinstance(e, openai.APITimeoutError):
            return LLMTimeout(f"the {what} {where} did not answer within {self.cfg.timeout:g} s "
                              "(RAG_LLM_TIMEOUT)"), True
        if isinstance(e, openai.APIConnectionError):
            return LLMUnavailable(f"cannot reach the {what} {where}: {self._msg(e)}"), True
        if not isinstance(e, openai.APIStatusError):
            return LLMUnavailable(f"the {what} {where} failed: {self._msg(e)}"), True
        status, msg = e.status_code, self._msg(e)
        if status == 429:
            return LLMRateLimited(f"rate limited by {where} (429): {msg}", retry_after=_retry_after(e.response),
                                  upstream_status=status), True
        if status >= 500:
            return LLMUnavailable(f"the {what} {where} failed ({status}): {msg}", upstream_status=status), True
        if status in (401, 403):
            return LLMAuthError(f"the {what} {where} refused the API key ({status}): {msg}; set {key_hint}",
                                upstream_status=status), False
        if status == 404:
            return LLMNotFound(f"model {model!r} not found at {where} (404): {msg}; check {model_hint}",
                               upstream_status=status), False
        if status in (400, 422):
            return LLMBadRequest(f"{where} rejected the request for {model!r} ({status}): {msg}",
                                 upstream_status=status), False
        return LLMError(f"the {what} {where} answered {status}: {msg}", upstream_status=status), False

    def _msg(self, e: openai.APIError) -> str:
        body = getattr(e, "body", None)
        if isinstance(body, dict):
            inner = body.get("error", body)
            text = inner.get("message") if isinstance(inner, dict) else str(inner)
        else:
            text = getattr(e, "message", None) or str(e)
        return scrub(str(text or type(e).__name__), self.cfg.api_key)


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:  # an HTTP date
        return max(email.utils.parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None
