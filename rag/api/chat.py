"""The OpenAI-compatible face: a chat request's question and settings, a completion, and the server-sent
event stream that gives its model slot back exactly once however it ends."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import HTTPException
from fastapi.responses import StreamingResponse

from rag.api.guards import field_error
from rag.api.schemas import ChatRequest
from rag.api.service import Service
from rag.llm.errors import LLMError
from rag.settings import Settings
from rag.types import Answer


def last_user_text(req: ChatRequest) -> str:
    for m in reversed(req.messages):
        if m.role == "user":
            if isinstance(m.content, str):
                return m.content
            if isinstance(m.content, list):
                return " ".join(str(p.get("text", "")) for p in m.content if p.get("type") == "text")
            return ""
    raise HTTPException(422, [field_error(("body", "messages"), "no user message: the last one is the question")])


def chat_overrides(req: ChatRequest) -> dict[str, Any]:
    """OpenAI request fields that map onto settings; the rest (n, logprobs, ...) are ignored."""
    extra = req.model_extra or {}
    out: dict[str, Any] = {}
    budget = extra.get("max_completion_tokens", extra.get("max_tokens"))
    if budget is not None:
        out["max_completion_tokens"] = budget
    for key in ("reasoning_effort", "temperature"):
        if extra.get(key) is not None:
            out[key] = extra[key]
    return out


def _usage(ans: Answer) -> dict[str, Any]:
    u = ans.usage
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.prompt_tokens + u.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens}}


def _leanrag(ans: Answer) -> dict[str, Any]:
    return {"citations": [c.__dict__ for c in ans.citations], "context_tokens": ans.context.tokens,
            "answerer": ans.answerer, "cost": ans.cost, "timings": ans.timings}


def completion(ans: Answer, model: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": ans.text},
                                         "finish_reason": "stop", "logprobs": None}],
            "usage": _usage(ans), "leanrag": _leanrag(ans)}


def stream_chat(svc: Service, question: str, s: Settings, needed: bool, *, model: str,
                 include_usage: bool) -> _ReleasingStream:
    """The model slot is taken here and given back exactly once, however the stream ends."""
    if needed:
        svc.acquire()
    release = _Once(svc.slots.release if needed else None)
    try:
        with svc.retrieval_slot():
            stream = svc.pipeline.answer(question, stream=True, settings=s)
            pieces = iter(stream)
            first = next(pieces, None)  # retrieval and the model request happen here: errors get a status
    except BaseException:
        release()
        raise
    release.also(lambda: _close(pieces))  # a dropped client frees the upstream connection too
    deadline = time.monotonic() + svc.settings.api.api_stream_max_seconds
    return _ReleasingStream(_sse(stream, first, pieces, model, include_usage, deadline), release)


class _Once:
    """Runs its actions the first time it is called, never again: a model slot goes back exactly once,
    whichever path ends a stream (finished, failed, or dropped by the client before its first byte)."""

    def __init__(self, action: Callable[[], object] | None) -> None:
        self._actions = [action] if action is not None else []
        self._lock = threading.Lock()

    def also(self, action: Callable[[], object]) -> None:
        self._actions.insert(0, action)

    def __call__(self) -> None:
        with self._lock:
            actions, self._actions = self._actions, []
        for act in actions:
            act()


class _ReleasingStream(StreamingResponse):
    """A server-sent event stream that calls ``release`` however the response ends. A generator's
    ``finally`` is not enough: a client that leaves before the first byte means the generator never
    starts, so its ``finally`` never runs."""

    def __init__(self, content: Iterator[str], release: _Once) -> None:
        super().__init__(content, media_type="text/event-stream")
        self._release = release

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _close(pieces: Iterator[str]) -> None:
    close = getattr(pieces, "close", None)
    try:
        if close is not None:
            close()
    except ValueError:  # still running in a worker thread: it ends when its upstream read does
        pass


def _sse(stream: Any, first: str | None, rest: Iterator[str], model: str, include_usage: bool,
         deadline: float) -> Iterator[str]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return "data: " + json.dumps({**base, "choices": [choice]}) + "\n\n"

    def error(message: str, kind: str) -> str:
        return "data: " + json.dumps({"error": {"message": message, "type": kind}}) + "\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        if first is not None:
            yield chunk({"content": first})
        for piece in rest:
            if time.monotonic() > deadline:  # a stream may not hold its model slot for ever
                yield error("the stream exceeded api_stream_max_seconds", "StreamTimeout")
                return
            yield chunk({"content": piece})
    except LLMError as e:  # the headers are sent: the error travels as an event, as OpenAI's does
        yield error(str(e), type(e).__name__)
        return
    yield chunk({}, "stop")
    if include_usage and stream.answer is not None:
        yield "data: " + json.dumps({**base, "choices": [], "usage": _usage(stream.answer),
                                     "leanrag": _leanrag(stream.answer)}) + "\n\n"
    yield "data: [DONE]\n\n"
