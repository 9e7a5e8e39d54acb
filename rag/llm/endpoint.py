"""One model endpoint: any OpenAI-compatible server (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp,
DeepSeek) behind the official client, and the one ``complete(messages)`` call the answerers and the LLM
reranker both stand on.

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
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai

from rag.llm.errors import (
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
from rag.llm.models import ModelSpec
from rag.llm.usage import ThinkSplitter, usage_from_response
from rag.net import redact
from rag.types import Usage

log = logging.getLogger(__name__)


@dataclass
class Completion:
    text: str
    reasoning: str
    usage: Usage
    cost: float
    finish_reason: str
    attempts: int
    first_token_ms: float
    ms: float


T = TypeVar("T")


def last(items: Iterator[T]) -> T:
    last = None
    for last in items:  # noqa: B007
        pass
    assert last is not None
    return last


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


class Endpoint:
    """A model at an endpoint: what to send it (``spec``), how to reach it (``cfg``), how to count tokens
    it does not report (``count``)."""

    def __init__(self, config: EndpointConfig, spec: ModelSpec, *, count: Callable[[str], int]) -> None:
        self.cfg = config
        self.spec = spec
        self.count = count
        self._client: openai.OpenAI | None = None

    @property
    def client(self) -> openai.OpenAI:
        if self._client is None:
            c = self.cfg
            # Our own retry loop (below) owns retries, so that they are counted and Retry-After is capped.
            common: dict[str, Any] = {"api_key": c.api_key or "not-needed", "timeout": c.timeout, "max_retries": 0}
            if c.api_version:
                self._client = openai.AzureOpenAI(azure_endpoint=c.base_url or "", api_version=c.api_version, **common)
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

    def complete(self, messages: list[dict[str, str]]) -> Completion:
        """One plain completion: text, reasoning, usage, cost."""
        done = last(self.run(messages, stream=False))
        assert isinstance(done, Completion)
        self.check_length(done)
        return done

    def run(self, messages: list[dict[str, str]], *, stream: bool) -> Iterator[str | Completion]:
        """The request with retries; yields visible text as it arrives (when streaming), then a Completion."""
        kwargs = self.request(messages, stream=stream)
        t0 = time.perf_counter()
        response, attempts = self._with_retries(lambda: self.client.chat.completions.create(**kwargs))
        reply = _Reply(ThinkSplitter(orphan_close=self.spec.open_reasoning))
        try:
            if stream:
                for chunk in response:
                    if getattr(chunk, "usage", None):
                        reply.usage = chunk.usage
                    for choice in chunk.choices or []:
                        reply.finish = choice.finish_reason or reply.finish
                        visible = reply.take(_reasoning_of(choice.delta), choice.delta.content)
                        if visible:
                            yield visible
            else:
                choice = response.choices[0]
                reply.usage, reply.finish = response.usage, choice.finish_reason or ""
                reply.take(_reasoning_of(choice.message), choice.message.content)
        except openai.APIError as e:  # the connection broke mid-stream
            raise self._translate(e)[0] from None
        rest = reply.close()
        if rest and stream:
            yield rest
        end = time.perf_counter()
        text, thought = "".join(reply.answer).strip(), "".join(reply.reasoning).strip()
        usage = usage_from_response(reply.usage, reasoning_text=thought, answer_text=text, count=self.count)
        yield Completion(text, thought, usage,
                         round(self.spec.cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens), 8),
                         reply.finish, attempts, round(((reply.first or end) - t0) * 1000, 2),
                         round((end - t0) * 1000, 2))

    def check_length(self, done: Completion) -> None:
        if done.finish_reason == "length" and not done.text:
            err = ReasoningBudgetExhausted(
                f"the model used its whole output budget ({self.budget} tokens, {done.usage.reasoning_tokens} of "
                f"them reasoning) and gave no visible answer; raise max_completion_tokens "
                f"(RAG_MAX_COMPLETION_TOKENS; {self.cfg.model} allows up to {self.spec.max_output})"
                + (" or lower reasoning_effort" if self.spec.reasoning_effort else ""))
            err.usage = done.usage  # type: ignore[attr-defined]  # the tokens were billed all the same
            raise err

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
        where, model = redact(self.cfg.base_url or "api.openai.com"), self.cfg.model
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


@dataclass
class _Reply:
    """A reply as it is read: visible text and reasoning apart, when the first token came, usage, finish."""

    splitter: ThinkSplitter
    reasoning: list[str] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)
    first: float | None = None
    usage: Any = None
    finish: str = ""

    def take(self, reasoning: str | None, content: str | None) -> str:
        """Files a delta (or a whole message); returns its visible part."""
        if (reasoning or content) and self.first is None:
            self.first = time.perf_counter()
        if reasoning:
            self.reasoning.append(reasoning)
        r, a = self.splitter.feed(content or "")
        self.reasoning.append(r)
        self.answer.append(a)
        return a

    def close(self) -> str:
        """Ends the reply; returns the visible text the splitter still held."""
        r, a = self.splitter.close()
        self.reasoning.append(r)
        self.answer.append(a)
        return a


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
