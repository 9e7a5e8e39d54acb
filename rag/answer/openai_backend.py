"""Answers from any OpenAI-compatible endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp, DeepSeek).

Sends only what the model accepts (``models.py``), retries what is worth retrying (429, 5xx, lost
connections, honouring ``Retry-After``), names the cause of what is not (400/401/404), and accounts
every token. The API key is never logged and never appears in an error.
"""
from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import openai

from rag.answer.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMError,
    LLMNotFound,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    ReasoningBudgetExhausted,
    scrub,
)
from rag.answer.models import ModelSpec
from rag.answer.prompt import build_messages, cite, cited_labels
from rag.answer.usage import ThinkSplitter, usage_from_response
from rag.types import Answer, Context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str | None
    model: str
    api_key: str | None
    api_version: str | None = None         # set for Azure OpenAI
    timeout: float = 60.0
    max_retries: int = 3
    backoff: float = 0.5                   # first retry delay, doubled each time, with jitter
    max_wait: float = 30.0                 # longest Retry-After honoured before giving up
    max_completion_tokens: int = 25_000
    reasoning_effort: str | None = None
    temperature: float | None = None


class OpenAIAnswerer:
    name = "openai"

    def __init__(self, config: EndpointConfig, spec: ModelSpec, *, count: Callable[[str], int],
                 name: str = "openai") -> None:
        self.cfg = config
        self.spec = spec
        self.count = count
        self.name = name
        self._client: openai.OpenAI | None = None

    @property
    def client(self) -> openai.OpenAI:
        if self._client is None:
            c = self.cfg
            # Our own retry loop (below) owns retries, so that they are counted and Retry-After is capped.
            common: dict[str, Any] = {"api_key": c.api_key or "not-needed", "timeout": c.timeout, "max_retries": 0}
            if c.api_version:
                self._client = openai.AzureOpenAI(azure_endpoint=c.base_url, api_version=c.api_version, **common)
            else:
                self._client = openai.OpenAI(base_url=c.base_url, **common)
        return self._client

    @property
    def budget(self) -> int:
        return min(self.cfg.max_completion_tokens, self.spec.max_output)

    def request(self, messages: list[dict[str, str]], *, stream: bool = False) -> dict[str, Any]:
        """The exact keyword arguments of ``chat.completions.create``: nothing the model rejects."""
        kw: dict[str, Any] = {"model": self.cfg.model, "messages": messages, self.spec.token_param: self.budget}
        if self.spec.reasoning_effort and self.cfg.reasoning_effort:
            kw["reasoning_effort"] = self.cfg.reasoning_effort
        if self.spec.sampling and self.cfg.temperature is not None:
            kw["temperature"] = self.cfg.temperature
        if stream:
            kw["stream"] = True
            if self.spec.stream_usage:
                kw["stream_options"] = {"include_usage": True}
        return kw

    # ---- answering ---------------------------------------------------------------------------
    def answer(self, question: str, context: Context) -> Answer:
        result: Answer | None = None
        for item in self.stream(question, context, _stream=False):
            if isinstance(item, Answer):
                result = item
        assert result is not None
        return result

    def stream(self, question: str, context: Context, *, _stream: bool = True) -> Iterator[str | Answer]:
        """Yields the visible answer as it arrives, then the finished ``Answer``."""
        passages = [(p.id, p.title or p.source.rsplit("/", 1)[-1], p.text) for p in context.passages]
        messages = build_messages(question, passages, self.spec)
        kwargs = self.request(messages, stream=_stream)
        t0 = time.perf_counter()
        response, attempts = self._with_retries(lambda: self.client.chat.completions.create(**kwargs))
        splitter = ThinkSplitter(orphan_close=self.spec.open_reasoning)
        reasoning: list[str] = []
        answer: list[str] = []
        first: float | None = None
        usage_obj: Any = None
        finish = ""

        def take(reasoning_part: str | None, content: str | None) -> str:
            nonlocal first
            if (reasoning_part or content) and first is None:
                first = time.perf_counter()
            if reasoning_part:
                reasoning.append(reasoning_part)
            r, a = splitter.feed(content or "")
            reasoning.append(r)
            answer.append(a)
            return a

        try:
            if _stream:
                for chunk in response:
                    if getattr(chunk, "usage", None):
                        usage_obj = chunk.usage
                    for choice in chunk.choices or []:
                        finish = choice.finish_reason or finish
                        visible = take(_reasoning_of(choice.delta), choice.delta.content)
                        if visible:
                            yield visible
            else:
                choice = response.choices[0]
                usage_obj, finish = response.usage, choice.finish_reason or ""
                take(_reasoning_of(choice.message), choice.message.content)
        except openai.APIError as e:  # the connection broke mid-stream
            raise self._translate(e)[0] from None
        r, a = splitter.close()
        reasoning.append(r)
        answer.append(a)
        if a and _stream:
            yield a
        end = time.perf_counter()
        text = "".join(answer).strip()
        thought = "".join(reasoning).strip()
        usage = usage_from_response(usage_obj, reasoning_text=thought, answer_text=text, count=self.count)
        if finish == "length" and not text:
            err = ReasoningBudgetExhausted(
                f"the model used its whole output budget ({self.budget} tokens, {usage.reasoning_tokens} of them "
                f"reasoning) and gave no visible answer; raise max_completion_tokens (RAG_MAX_COMPLETION_TOKENS; "
                f"{self.cfg.model} allows up to {self.spec.max_output})"
                + (" or lower reasoning_effort" if self.spec.reasoning_effort else ""))
            err.usage = usage  # type: ignore[attr-defined]  # the tokens were billed all the same
            raise err
        yield Answer(
            question=question, text=text, citations=cite(cited_labels(text), context.passages), context=context,
            usage=usage, cost=round(self.spec.cost(usage.prompt_tokens, usage.cached_tokens,
                                                   usage.completion_tokens), 8),
            timings={"first_token_ms": round(((first or end) - t0) * 1000, 2),
                     "answer_ms": round((end - t0) * 1000, 2)},
            answerer=self.name, model=self.cfg.model, finish_reason=finish, messages=messages,
            reasoning=thought or None, attempts=attempts)

    # ---- faults ----------------------------------------------------------------------------------
    def _with_retries(self, call: Callable[[], Any]) -> tuple[Any, int]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return call(), attempt
            except openai.APIError as e:
                err, retryable = self._translate(e)
            if not retryable or attempt > self.cfg.max_retries:
                raise err
            delay = self.cfg.backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
            if err.retry_after is not None:
                if err.retry_after > self.cfg.max_wait:
                    raise err
                delay = err.retry_after
            log.warning("%s; retry %d/%d in %.2f s", err, attempt, self.cfg.max_retries, delay)
            time.sleep(delay)

    def _translate(self, e: openai.APIError) -> tuple[LLMError, bool]:
        """Our error for the client's, and whether a retry may help."""
        where, model = self.cfg.base_url or "api.openai.com", self.cfg.model
        if isinstance(e, openai.APITimeoutError):
            return LLMTimeout(f"the model endpoint {where} did not answer within {self.cfg.timeout:g} s "
                              "(RAG_LLM_TIMEOUT)"), True
        if isinstance(e, openai.APIConnectionError):
            return LLMUnavailable(f"cannot reach the model endpoint {where}: {self._msg(e)}"), True
        if not isinstance(e, openai.APIStatusError):
            return LLMUnavailable(f"the model endpoint {where} failed: {self._msg(e)}"), True
        status, msg = e.status_code, self._msg(e)
        if status == 429:
            return LLMRateLimited(f"rate limited by {where} (429): {msg}", retry_after=_retry_after(e.response),
                                  upstream_status=status), True
        if status >= 500:
            return LLMUnavailable(f"the model endpoint {where} failed ({status}): {msg}",
                                  upstream_status=status), True
        if status in (401, 403):
            return LLMAuthError(f"the model endpoint {where} refused the API key ({status}): {msg}; set "
                                "OPENAI_API_KEY or RAG_LLM_API_KEY", upstream_status=status), False
        if status == 404:
            return LLMNotFound(f"model {model!r} not found at {where} (404): {msg}; check RAG_LLM_MODEL and "
                               "RAG_LLM_BASE_URL", upstream_status=status), False
        if status in (400, 422):
            return LLMBadRequest(f"{where} rejected the request for {model!r} ({status}): {msg}",
                                 upstream_status=status), False
        return LLMError(f"the model endpoint {where} answered {status}: {msg}", upstream_status=status), False

    def _msg(self, e: openai.APIError) -> str:
        body = getattr(e, "body", None)
        if isinstance(body, dict):
            inner = body.get("error", body)
            text = inner.get("message") if isinstance(inner, dict) else str(inner)
        else:
            text = getattr(e, "message", None) or str(e)
        return scrub(str(text or type(e).__name__), self.cfg.api_key)


def _reasoning_of(message: Any) -> str | None:
    """``reasoning_content`` (DeepSeek, vLLM, llama.cpp) or ``reasoning`` (newer vLLM, Ollama)."""
    if message is None:
        return None
    extra = getattr(message, "model_extra", None) or {}
    value = getattr(message, "reasoning_content", None) or extra.get("reasoning_content") or extra.get("reasoning")
    return value if isinstance(value, str) else None


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
