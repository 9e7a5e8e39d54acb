"""Errors from the answering endpoint, each naming its cause. The HTTP API maps ``status`` to its reply.

Messages never contain the API key: ``scrub`` removes it from anything the server echoed back.
"""
from __future__ import annotations


class LLMError(RuntimeError):
    """The model endpoint failed. ``status`` is the HTTP status the service should answer with."""

    status = 502

    def __init__(self, message: str, *, retry_after: float | None = None, upstream_status: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.upstream_status = upstream_status


class LLMAuthError(LLMError):
    """401/403 from the endpoint: the key is missing, wrong, or lacks access."""


class LLMNotFound(LLMError):
    """404: unknown model (or a base URL that is not an OpenAI-compatible API)."""


class LLMBadRequest(LLMError):
    """400/422: the endpoint rejected the request (a parameter, a role, the context length)."""


class LLMRateLimited(LLMError):
    """429 after every retry."""

    status = 429


class LLMUnavailable(LLMError):
    """5xx or no connection, after every retry."""


class LLMTimeout(LLMError):
    status = 504


class ReasoningBudgetExhausted(LLMError):
    """finish_reason="length" with no visible answer: the model spent its budget thinking."""


def scrub(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text
