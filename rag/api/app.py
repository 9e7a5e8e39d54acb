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
import json
import logging
import os
import shutil
import tempfile
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr, ValidationError

from rag import tracepage
from rag.api import ui
from rag.api.chat import chat_overrides, completion, last_user_text, stream_chat
from rag.api.guards import BodyLimit, LoopbackHost, auth_problems, bearer_matches, field_error, loopback_names
from rag.api.metrics import RequestLog
from rag.api.schemas import AnswerRequest, ChatRequest, IngestRequest, RetrieveRequest, TraceRequest
from rag.api.service import Service, Svc
from rag.errors import InputError
from rag.index.store import StoreBusy, StoreError
from rag.llm.errors import LLMError
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.types import Answer, Document

log = logging.getLogger(__name__)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]
SETTINGS_ENV = "RAG_SERVE_SETTINGS"  # how `rag serve` hands its settings to worker processes


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
    app.add_middleware(BodyLimit, max_bytes=settings.api.api_max_body_bytes, seconds=settings.api.api_body_seconds)
    if settings.api.api_key is None:  # loopback without keys: only requests addressed to loopback by name
        app.add_middleware(LoopbackHost, allowed=loopback_names(settings.api.api_host))
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
    svc.pipeline.close()


def user(svc: Svc, creds: Credentials) -> None:
    s = svc.settings
    if s.api.api_key is not None and not bearer_matches(creds, s.api.api_key, s.api.api_admin_key):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def admin(svc: Svc, creds: Credentials) -> None:
    s = svc.settings
    key = s.api.api_admin_key or s.api.api_key
    if key is None:
        if s.api.api_open_ingest:
            return
        raise HTTPException(403, "ingest is closed on a service without keys: set RAG_API_ADMIN_KEY, or "
                                 "RAG_API_OPEN_INGEST=true to let loopback clients write")
    if bearer_matches(creds, key):
        return
    if s.api.api_key is not None and bearer_matches(creds, s.api.api_key):
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
    question = svc.check_question(last_user_text(req), ("body", "messages"))
    s = svc.settings_for(chat_overrides(req), "messages")
    needed = svc.needs_model(s, answering=True)
    if req.stream:
        include_usage = bool((req.stream_options or {}).get("include_usage"))
        return stream_chat(svc, question, s, needed, model=req.model, include_usage=include_usage)
    with svc.retrieval_slot(), svc.model_slot(needed):
        ans = svc.pipeline.answer(question, settings=s)
    svc.metrics.answer(ans)
    return completion(ans, req.model)


@admin_routes.post("/v1/ingest")
def ingest(req: IngestRequest, svc: Svc) -> dict[str, Any]:
    """Add or update documents (each replaces its earlier version with the same id or source)."""
    svc.require_ready()
    limit = svc.settings.api.api_max_documents
    if len(req.documents) > limit:
        raise HTTPException(413, f"at most {limit} documents per request")
    ids = [d.id for d in req.documents]
    if len(set(ids)) != len(ids):
        raise HTTPException(422, [field_error(("body", "documents"), "document ids must be unique")])
    docs = [Document(id=d.id, source=d.source or f"api:{d.id}", title=d.title, text=d.text)
            for d in req.documents]
    return svc.pipeline.ingest_documents(docs).to_dict()


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
        detail = [field_error(("body", *map(str, err["loc"])), err["msg"]) for err in e.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(InputError)
    async def invalid(request: Request, e: InputError) -> JSONResponse:
        return JSONResponse({"detail": [field_error(("body",), str(e))]}, status_code=422)

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


def configure_process(settings: Settings) -> None:
    """Process-wide set-up of a service: requests run side by side, so one thread per forward pass
    (torch's default of one per core oversubscribes the cores under concurrent requests)."""
    import torch

    from rag.index.embedder import one_blas_thread

    torch.set_num_threads(settings.api.api_torch_threads)
    one_blas_thread()


def hand_over(settings: Settings) -> Path:
    """Write ``settings`` (secrets too) for `rag serve --workers N` to a file readable by this user only,
    removed when this process exits; the workers get its path."""
    folder = Path(tempfile.mkdtemp(prefix="leanrag-serve-"))  # mode 0700
    path = folder / "settings.json"
    data = settings.flat(mode="json")
    for key, value in settings.flat().items():
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
