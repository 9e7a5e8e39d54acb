"""The question-answering service: HTTP in, ``Pipeline`` calls out, nothing else.

Routes: ``POST /v1/answer``, ``/v1/retrieve``, ``/v1/chat/completions`` (OpenAI-compatible),
``/v1/ingest`` (admin), ``GET /healthz``, ``/readyz``, OpenAPI at ``/docs``.
Every failure is a 4xx/5xx with a JSON ``detail`` naming the cause, never a stack trace.

Example:
    >>> from rag import Settings
    >>> app = create_app(Settings(store_path="/tmp/leanrag-doc-api"))
    >>> sorted(path for path in app.openapi()["paths"] if path.startswith("/v1"))[:2]
    ['/v1/answer', '/v1/chat/completions']
"""
from __future__ import annotations

import atexit
import hmac
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, cast, overload

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr, TypeAdapter, ValidationError

from rag import telemetry, tracepage
from rag.answer.factory import resolve_answerer
from rag.api import ui
from rag.api.metrics import REQUEST_ID, Metrics, RequestLog
from rag.api.schemas import AnswerRequest, ChatRequest, IngestRequest, RetrieveRequest, TraceRequest
from rag.errors import InputError
from rag.index.store import StoreBusy, StoreError
from rag.llm.errors import LLMError
from rag.memo import give_back_memory, memo_bytes
from rag.net import redact
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.text import sentence_spans
from rag.types import Answer, Context, Document

log = logging.getLogger(__name__)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]
SETTINGS_ENV = "RAG_SERVE_SETTINGS"  # how `rag serve` hands its settings to worker processes
ROUTES = {"/v1/answer", "/v1/retrieve", "/v1/chat/completions", "/v1/ingest", "/metrics", "/healthz", "/readyz",
          "/ui", "/ui/trace",
          "/docs", "/openapi.json"}


class Service:
    """What the routes share: the pipeline (read-only after loading) and the model-call slots."""

    def __init__(self, settings: Settings, pipeline: Pipeline | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline or Pipeline(settings)
        self.slots = threading.BoundedSemaphore(settings.api_max_concurrent_llm)
        self.retrievals = threading.BoundedSemaphore(settings.api_max_concurrent_retrievals)
        self.ready = threading.Event()
        self.error: str | None = None
        self.serving: dict[str, Any] = {}  # what /readyz reports once loaded
        self.metrics = Metrics(ROUTES)
        self.metrics.gauge("leanrag_model_calls_in_flight", "Model calls holding a slot",
                           lambda: settings.api_max_concurrent_llm - self.slots._value)  # type: ignore[attr-defined]
        self.metrics.gauge("leanrag_retrievals_in_flight", "Retrievals holding a slot",
                           lambda: settings.api_max_concurrent_retrievals
                           - self.retrievals._value)  # type: ignore[attr-defined]
        self.metrics.gauge("leanrag_vector_cache_bytes", "Bytes of vectors in the in-memory cache",
                           lambda: self.pipeline.vector_cache_bytes)
        self.metrics.gauge("leanrag_text_memo_bytes", "Estimated bytes of memoised text views (terms, sentences)",
                           memo_bytes)
        self.metrics.caches(lambda: self.pipeline.cache_stats())

    def load(self) -> None:
        """Load every model once, before the service says it is ready."""
        try:
            t0 = time.perf_counter()
            store = self.pipeline.store(create=True)
            store.serve()  # no other process writes it behind our back
            self.pipeline.warm_up()
            self.serving = {"chunks": store.count(), "embedding_model": self.settings.embedding_model}
            log.info("ready in %.1f s", time.perf_counter() - t0)
            self.ready.set()
        except Exception as e:  # reported by /readyz; the service stays up to say why
            self.error = redact(f"{type(e).__name__}: {e}")
            log.error("loading failed: %s", self.error)

    def require_ready(self) -> None:
        if not self.ready.is_set():
            raise HTTPException(503, self.error or "loading models; retry shortly", headers={"Retry-After": "2"})

    def settings_for(self, requested: dict[str, Any], field: str = "overrides") -> Settings:
        """The request's settings (validated once), if the operator allows each override and its value.

        Values are checked strictly (``"100000"`` is not a number), and the ceilings are checked on the
        *resolved* settings, so ``null`` (unlimited) cannot lift a budget past the operator's limit.
        """
        errors = []
        for key, value in requested.items():
            if key not in self.settings.api_overrides:
                errors.append(_error(("body", field, key), f"{key!r} cannot be overridden per request; "
                                     f"allowed: {', '.join(self.settings.api_overrides)}"))
            elif (msg := _strict_error(key, value)) is not None:
                errors.append(_error(("body", field, key), msg))
        if errors:
            raise HTTPException(422, errors)
        try:
            resolved = self.settings.replace(**requested) if requested else self.settings
        except ValidationError as e:
            raise HTTPException(422, [_error(("body", field, *map(str, err["loc"])), err["msg"])
                                      for err in e.errors()]) from None
        errors = [_error(("body", field, key), msg) for key, msg in ceiling_errors(self.settings, resolved, requested)]
        if errors:
            raise HTTPException(422, errors)
        return resolved

    @staticmethod
    def needs_model(s: Settings, *, answering: bool) -> bool:
        return s.reranker == "llm" or (answering and resolve_answerer(s) != "extractive")

    @contextmanager
    def model_slot(self, needed: bool) -> Iterator[None]:
        if not needed:
            yield
            return
        self.acquire()
        try:
            yield
        finally:
            self.slots.release()

    def acquire(self) -> None:
        _take(self.slots, "model calls", "api_max_concurrent_llm", self.settings.api_max_concurrent_llm,
              self.settings.api_llm_queue_timeout)

    @contextmanager
    def retrieval_slot(self) -> Iterator[None]:
        """Retrieval embeds and scores on this machine's cores: bounded like model calls."""
        _take(self.retrievals, "retrievals", "api_max_concurrent_retrievals",
              self.settings.api_max_concurrent_retrievals, self.settings.api_llm_queue_timeout)
        try:
            yield
        finally:
            self.retrievals.release()

    def check_passages(self, passages: list[str | dict[str, Any]] | None) -> list[str | dict[str, Any]] | None:
        if passages is None:
            return None
        texts = [p if isinstance(p, str) else str(p.get("text", "")) for p in passages]
        chars = sum(len(t) for t in texts)
        limit = self.settings.api_max_passage_chars
        if chars > limit:
            raise HTTPException(413, [_error(("body", "passages"), f"{chars} characters of passages; at most {limit}")])
        sentences = sum(len(sentence_spans(t)) for t in texts)
        limit = self.settings.api_max_passage_sentences
        if sentences > limit:
            raise HTTPException(413, [_error(("body", "passages"),
                                             f"{sentences} sentences of passages; at most {limit}")])
        return passages

    @overload
    def run(self, req: RetrieveRequest, *, answering: Literal[False]) -> Context: ...

    @overload
    def run(self, req: RetrieveRequest, *, answering: Literal[True]) -> Answer: ...

    def run(self, req: RetrieveRequest, *, answering: bool) -> Context | Answer:
        """A /v1 retrieve or answer call: ready, settings within the ceilings, input bounded, slots held.

        A request that needs the model waits for a model slot before it takes a retrieval slot, and gives the
        retrieval slot back before the model call: eight answers behind a slow upstream once held every
        retrieval slot and stalled /v1/retrieve."""
        self.require_ready()
        s = self.settings_for(req.overrides)
        question, passages = self.check_question(req.question), self.check_passages(_passages(req))
        t0 = time.perf_counter()
        with telemetry.span("leanrag.request", **{"leanrag.request_id": REQUEST_ID.get(),
                                                  "leanrag.answering": answering}), \
                self.model_slot(self.needs_model(s, answering=answering)):
            with self.retrieval_slot():
                ctx = self.pipeline.retrieve(question, where=req.filters or None, passages=passages, settings=s)
            out: Context | Answer = (self.pipeline.answer_context(question, ctx, started=t0, settings=s)
                                     if answering else ctx)
        out.trace.request_id = REQUEST_ID.get()
        if passages:
            give_back_memory()
        return out

    def check_question(self, question: str, field: tuple[str, ...] = ("body", "question")) -> str:
        if not question.strip():
            raise HTTPException(422, [_error(field, "the question is empty")])
        if len(question) > self.settings.api_max_question_chars:
            raise HTTPException(422, [_error(field, f"the question is longer than "
                                                    f"{self.settings.api_max_question_chars} characters")])
        return question


def _take(slots: threading.BoundedSemaphore, what: str, setting: str, limit: int, wait: float) -> None:
    """One slot of ``slots``, waiting at most ``wait`` seconds, else a 429 the client can retry."""
    if not slots.acquire(timeout=wait):
        raise HTTPException(429, f"too many concurrent {what} ({setting}={limit}); retry shortly",
                            headers={"Retry-After": "1"})


_OFF_WHEN_NONE = {"hop_budget"}  # None switches the multi-hop budget off: cheaper, not unlimited
_EFFORT = {"minimal": 0, "low": 1, "medium": 2, "high": 3, None: 2}  # None: the model's default, medium


def cost_direction(key: str) -> str | None:
    """How a setting raises cost, from its field metadata: "up" (a larger value or None spends more),
    "down" (a smaller value or None spends more: abstention thresholds), "effort", or None (no cost)."""
    extra = Settings.model_fields[key].json_schema_extra
    return extra.get("cost") if isinstance(extra, dict) else None  # type: ignore[return-value]


def costlier(key: str, value: Any, operator: Settings) -> str | None:
    """Why ``value`` for ``key`` would spend more than the operator allows (None: it does not)."""
    direction, mine = cost_direction(key), getattr(operator, key)
    if direction == "effort":
        if _EFFORT[value] > _EFFORT[mine]:
            return f"{key} may be at most {mine or 'the model default (medium)'!r} (the operator's value)"
        return None
    if direction == "up":
        # the operator's value, or the higher limit the operator set in api_override_limits; None: unlimited
        limit = None if mine is None else max(mine, operator.api_override_limits.get(key, mine))
        if value is None and key in _OFF_WHEN_NONE:
            return None
        if limit is not None and (value is None or value > limit):
            return (f"{key} may be at most {limit:g} (null means unlimited, which is over it); "
                    f"the operator raises it with api_override_limits")
        return None
    if direction == "down" and mine is not None and (value is None or value < mine):
        return (f"{key} may not be below the operator's {mine:g} nor null: how readily the service abstains "
                "is the operator's choice")
    return None


def ceiling_errors(operator: Settings, resolved: Settings, requested: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, why) for each override that would spend more than the operator allowed."""
    out = [(key, why) for key in requested if key in Settings.model_fields
           and (why := costlier(key, getattr(resolved, key), operator)) is not None]
    if operator.api_allow_backend_switch:
        return out
    if "answerer" in requested:
        mine, theirs = resolve_answerer(operator), resolve_answerer(resolved)
        if theirs not in (mine, "extractive"):
            out.append(("answerer", f"this service answers with {mine!r}; a request may keep it or choose "
                                    "'extractive' (the operator enables others with api_allow_backend_switch)"))
    if "reranker" in requested and resolved.reranker == "llm" and operator.reranker != "llm":
        out.append(("reranker", "the llm reranker calls a model: not enabled on this service "
                                "(the operator enables it with api_allow_backend_switch)"))
    return out


@cache
def _adapter(key: str) -> TypeAdapter:
    info = Settings.model_fields[key]
    kind = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation  # type: ignore[valid-type]
    return TypeAdapter(cast(Any, kind))


def _strict_error(key: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``key`` as JSON, with no coercion (None: it is valid)."""
    try:
        _adapter(key).validate_json(json.dumps(value), strict=True)
    except ValidationError as e:
        return "; ".join(err["msg"] for err in e.errors())
    return None


def _error(loc: tuple[str, ...], msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": "value_error"}


MIN_KEY_CHARS = 16


def auth_problems(settings: Settings) -> list[str]:
    """Keys too short to protect anything (an empty ``RAG_API_KEY=""`` once opened the service)."""
    return [f"{name} must be at least {MIN_KEY_CHARS} characters (it has {len(key.get_secret_value())}); "
            f"unset it to serve on loopback without a key"
            for name, key in (("RAG_API_KEY", settings.api_key), ("RAG_API_ADMIN_KEY", settings.api_admin_key))
            if key is not None and len(key.get_secret_value().strip()) < MIN_KEY_CHARS]


def create_app(settings: Settings | None = None, *, pipeline: Pipeline | None = None) -> FastAPI:
    settings = settings or Settings()
    problems = auth_problems(settings)
    if problems:
        raise ValueError("; ".join(problems))
    svc = Service(settings, pipeline)
    app = FastAPI(title="leanrag", version="0.1.0", lifespan=_lifespan,
                  description="Lean-context RAG: only the passages that matter reach the model.")
    app.state.service = svc
    app.state.metrics = svc.metrics
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    if settings.api_key is None:  # loopback without keys: only requests addressed to loopback by name
        app.add_middleware(LoopbackHost, allowed=_loopback_names(settings.api_host))
    _handlers(app)
    app.add_middleware(RequestLog, metrics=svc.metrics)  # outermost: counts every answer, refusals included
    for router in (open_routes, user_routes, admin_routes):
        app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI):  # noqa: ANN202
    svc: Service = app.state.service
    # Loading runs beside the server so that /healthz answers while /readyz says "not yet".
    threading.Thread(target=svc.load, name="leanrag-load", daemon=True).start()
    yield
    if "_store" in svc.pipeline.__dict__:
        svc.pipeline.store().release_serving()


# ---- routes: module-level, each given the app's Service through a dependency -----------------------
def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


Svc = Annotated[Service, Depends(service)]


def _matches(creds: HTTPAuthorizationCredentials | None, *keys: SecretStr | None) -> bool:
    given = (creds.credentials if creds else "").strip().encode()
    if not given:  # an empty bearer token never matches, whatever the keys are
        return False
    return any(k is not None and hmac.compare_digest(given, k.get_secret_value().encode()) for k in keys)


def user(svc: Svc, creds: Credentials) -> None:
    s = svc.settings
    if s.api_key is not None and not _matches(creds, s.api_key, s.api_admin_key):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def admin(svc: Svc, creds: Credentials) -> None:
    s = svc.settings
    key = s.api_admin_key or s.api_key
    if key is None:
        if s.api_open_ingest:
            return
        raise HTTPException(403, "ingest is closed on a service without keys: set RAG_API_ADMIN_KEY, or "
                                 "RAG_API_OPEN_INGEST=true to let loopback clients write")
    if _matches(creds, key):
        return
    if s.api_key is not None and _matches(creds, s.api_key):
        raise HTTPException(403, "ingest needs the admin token (RAG_API_ADMIN_KEY)")
    raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


open_routes = APIRouter(tags=["service"])
user_routes = APIRouter(dependencies=[Depends(user)])
admin_routes = APIRouter(dependencies=[Depends(admin)], tags=["admin"])


@open_routes.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@open_routes.get("/readyz")
def readyz(svc: Svc) -> JSONResponse:
    if svc.ready.is_set():  # what it serves, so a wrong or empty store shows (no paths: this route is open)
        return JSONResponse({"ready": True, **svc.serving})
    # unauthenticated: the reason (paths, hosts) is in the service log, not on the wire
    detail = "loading failed; see the service log" if svc.error else "loading models"
    return JSONResponse({"ready": False, "detail": detail}, status_code=503)


@user_routes.get("/metrics", tags=["service"])
def scrape(svc: Svc) -> Response:
    """Prometheus text format: requests, latency, stage times, context and model tokens, cost, slots."""
    return Response(svc.metrics.scrape(), media_type=CONTENT_TYPE_LATEST)


@user_routes.post("/v1/retrieve", tags=["rag"])
def retrieve(req: RetrieveRequest, svc: Svc) -> JSONResponse:
    """The lean context and its trace, without calling a model (unless the llm reranker is asked for)."""
    ctx = svc.run(req, answering=False)
    svc.metrics.context(ctx)
    return JSONResponse(ctx.to_dict())  # already plain JSON: skip FastAPI's slower re-encoding


@user_routes.post("/v1/answer", tags=["rag"])
def answer(req: AnswerRequest, svc: Svc) -> JSONResponse:
    """{answer, citations, context, usage, cost, timings, trace}."""
    ans = svc.run(req, answering=True)
    assert isinstance(ans, Answer)
    svc.metrics.answer(ans)
    out = ans.to_dict()
    out["trace"] = out["context"]["trace"]
    return JSONResponse(out)


@open_routes.get("/ui", response_class=HTMLResponse, include_in_schema=False)
def ui_page(svc: Svc) -> HTMLResponse:
    """The trace page. It holds no data (every run goes through /ui/trace, behind the key)."""
    return HTMLResponse(ui.page(svc.settings))


@user_routes.post("/ui/trace", response_class=HTMLResponse, include_in_schema=False)
def ui_trace(req: TraceRequest, svc: Svc) -> HTMLResponse:
    """One run of the trace page, as the self-contained HTML of ``rag retrieve --html``."""
    if req.answer:
        ans = svc.run(req, answering=True)
        svc.metrics.answer(ans)
        return HTMLResponse(tracepage.render(ans.context, ans))
    ctx = svc.run(req, answering=False)
    svc.metrics.context(ctx)
    return HTMLResponse(tracepage.render(ctx))


@user_routes.post("/v1/chat/completions", tags=["openai"])
def chat(req: ChatRequest, svc: Svc) -> Any:
    """OpenAI-compatible: the last user message is the question; the lean context is injected."""
    svc.require_ready()
    question = svc.check_question(_last_user_text(req), ("body", "messages"))
    s = svc.settings_for(_chat_overrides(req), "messages")
    needed = svc.needs_model(s, answering=True)
    if req.stream:
        include_usage = bool((req.stream_options or {}).get("include_usage"))
        return _stream_chat(svc, question, s, needed, model=req.model, include_usage=include_usage)
    with svc.retrieval_slot(), svc.model_slot(needed):
        ans = svc.pipeline.answer(question, settings=s)
    svc.metrics.answer(ans)
    return _completion(ans, req.model)


def _stream_chat(svc: Service, question: str, s: Settings, needed: bool, *, model: str,
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
    deadline = time.monotonic() + svc.settings.api_stream_max_seconds
    return _ReleasingStream(_sse(stream, first, pieces, model, include_usage, deadline), release)


@admin_routes.post("/v1/ingest")
def ingest(req: IngestRequest, svc: Svc) -> dict[str, Any]:
    """Add or update documents (each replaces its earlier version with the same id or source)."""
    svc.require_ready()
    limit = svc.settings.api_max_documents
    if len(req.documents) > limit:
        raise HTTPException(413, f"at most {limit} documents per request")
    ids = [d.id for d in req.documents]
    if len(set(ids)) != len(ids):
        raise HTTPException(422, [_error(("body", "documents"), "document ids must be unique")])
    docs = [Document(id=d.id, source=d.source or f"api:{d.id}", title=d.title, text=d.text)
            for d in req.documents]
    return svc.pipeline.ingest_documents(docs).to_dict()


def _passages(req: RetrieveRequest) -> list[str | dict[str, Any]] | None:
    if req.passages is None:
        return None
    return [p if isinstance(p, str) else p.model_dump(exclude_none=True) for p in req.passages]


def _last_user_text(req: ChatRequest) -> str:
    for m in reversed(req.messages):
        if m.role == "user":
            if isinstance(m.content, str):
                return m.content
            if isinstance(m.content, list):
                return " ".join(str(p.get("text", "")) for p in m.content if p.get("type") == "text")
            return ""
    raise HTTPException(422, [_error(("body", "messages"), "no user message: the last one is the question")])


def _chat_overrides(req: ChatRequest) -> dict[str, Any]:
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


def _completion(ans: Answer, model: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": ans.text},
                                         "finish_reason": "stop", "logprobs": None}],
            "usage": _usage(ans), "leanrag": _leanrag(ans)}


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


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(LLMError)
    async def llm_error(request: Request, e: LLMError) -> JSONResponse:
        headers = {"Retry-After": f"{max(1, round(e.retry_after))}"} if e.retry_after is not None else None
        return JSONResponse({"detail": str(e), "type": type(e).__name__}, status_code=e.status, headers=headers)

    @app.exception_handler(StoreBusy)
    async def busy(request: Request, e: StoreBusy) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=409)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, e: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=503)

    @app.exception_handler(ValidationError)
    async def invalid_settings(request: Request, e: ValidationError) -> JSONResponse:
        return JSONResponse({"detail": [_error(("body", *map(str, err["loc"])), err["msg"]) for err in e.errors()]},
                            status_code=422)

    @app.exception_handler(InputError)
    async def invalid(request: Request, e: InputError) -> JSONResponse:
        return JSONResponse({"detail": [_error(("body",), str(e))]}, status_code=422)

    @app.exception_handler(Exception)
    async def bug(request: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)  # the trace goes to the log, not the client
        return JSONResponse({"detail": "internal error; see the service log"}, status_code=500)

    app.add_exception_handler(RequestValidationError, _validation)


async def _validation(request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, RequestValidationError)
    errors = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
              for err in e.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


def _loopback_names(host: str) -> frozenset[str]:
    return frozenset({"127.0.0.1", "localhost", "::1", "[::1]", host.lower()})


def _host_name(host: str) -> str:
    """The name of a Host header without its port: "localhost:8000", "[::1]:8000", "::1"."""
    if host.startswith("["):
        return host[:host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class LoopbackHost:
    """Refuses (421) a request whose Host header is not a loopback name. A web page can reach a loopback
    service through a name it controls (DNS rebinding): the browser then sends that name as Host, and
    the page could read a service that has no key."""

    def __init__(self, app: Any, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raw = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").strip().lower()
            if _host_name(raw) not in self.allowed:
                await _send_json(send, 421, "this service without keys answers loopback host names only "
                                            "(set RAG_API_KEY to serve other names)")
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuses bodies over ``max_bytes`` with 413, whether Content-Length says so or the stream does."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await _send_json(send, 400, "invalid Content-Length")
                return
            if int(length) > self.max_bytes:
                await _send_json(send, 413, f"request body larger than {self.max_bytes} bytes")
                return
        seen = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, f"request body larger than {self.max_bytes} bytes")


class _TooLarge(Exception):
    pass


async def _send_json(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def configure_process(settings: Settings) -> None:
    """Process-wide set-up of a service: requests run side by side, so one thread per forward pass
    (torch's default of one per core oversubscribes the cores under concurrent requests)."""
    import torch

    from rag.index.embedder import one_blas_thread

    torch.set_num_threads(settings.api_torch_threads)
    one_blas_thread()


def hand_over(settings: Settings) -> Path:
    """Write ``settings`` (secrets too) for `rag serve --workers N` to a file readable by this user only,
    removed when this process exits; the workers get its path."""
    folder = Path(tempfile.mkdtemp(prefix="leanrag-serve-"))  # mode 0700
    path = folder / "settings.json"
    data = settings.model_dump(mode="json")
    for key, value in settings:
        if isinstance(value, SecretStr):
            data[key] = value.get_secret_value()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    atexit.register(shutil.rmtree, folder, True)
    return path


def app_from_env() -> FastAPI:
    """The app of a `rag serve --workers N` worker: every setting handed over by the parent process."""
    where = os.environ.get(SETTINGS_ENV)
    settings = Settings(**json.loads(Path(where).read_text())) if where else Settings()
    configure_process(settings)
    return create_app(settings)
