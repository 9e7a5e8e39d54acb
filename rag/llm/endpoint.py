"""One model endpoint: any OpenAI-compatible server (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp,
DeepSeek) behind the official client, and the one ``complete(messages)`` call the answerers and the LLM
reranker both stand on.

Sends only what the model accepts (``models.py``) and accounts every token; retries and errors are the
connection's (``connection.py``).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai

from rag.llm.connection import Connection, EndpointConfig
from rag.llm.errors import ReasoningBudgetExhausted
from rag.llm.models import ModelSpec
from rag.llm.usage import ThinkSplitter, usage_from_response
from rag.types import Usage

__all__ = ["Completion", "Endpoint", "EndpointConfig", "last"]



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


class Endpoint:
    """A model at an endpoint: what to send it (``spec``), how to reach it (``cfg``), how to count tokens
    it does not report (``count``)."""

    def __init__(self, config: EndpointConfig, spec: ModelSpec, *, count: Callable[[str], int]) -> None:
        self.cfg = config
        self.spec = spec
        self.count = count
        self.connection = Connection(config)

    @property
    def client(self) -> openai.OpenAI:
        return self.connection.client

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
        response, attempts = self.connection.call(lambda: self.client.chat.completions.create(**kwargs))
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
            raise self.connection.translate(e)[0] from None
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
