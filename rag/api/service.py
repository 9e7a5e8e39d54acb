"""What the routes share: the pipeline, loading, the request's settings within the operator's ceilings, and
the slots that bound concurrent model calls and retrievals."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, overload

from fastapi import Depends, HTTPException, Request
from pydantic import ValidationError

from rag import telemetry
from rag.answer.factory import resolve_answerer
from rag.api.ceilings import ceiling_errors, strict_error
from rag.api.guards import field_error, take_slot
from rag.api.metrics import REQUEST_ID, Metrics
from rag.api.schemas import RetrieveRequest
from rag.memo import give_back_memory, memo_bytes
from rag.net import redact
from rag.pipeline import Pipeline
from rag.settings import Settings, flat_loc
from rag.text import sentence_spans
from rag.types import Answer, Context

log = logging.getLogger(__name__)
ROUTES = {"/v1/answer", "/v1/retrieve", "/v1/chat/completions", "/v1/ingest", "/metrics", "/healthz", "/readyz",
          "/ui", "/ui/trace",
          "/docs", "/openapi.json"}


class Service:
    """What the routes share: the pipeline (read-only after loading) and the model-call slots."""

    def __init__(self, settings: Settings, pipeline: Pipeline | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline or Pipeline(settings)
        self.slots = threading.BoundedSemaphore(settings.api.api_max_concurrent_llm)
        self.retrievals = threading.BoundedSemaphore(settings.api.api_max_concurrent_retrievals)
        self.ready = threading.Event()
        self.error: str | None = None
        self.serving: dict[str, Any] = {}  # what /readyz reports once loaded
        self.metrics = Metrics(ROUTES)
        self.metrics.gauge("leanrag_model_calls_in_flight", "Model calls holding a slot",
                           lambda: settings.api.api_max_concurrent_llm - self.slots._value)  # type: ignore[attr-defined]
        self.metrics.gauge("leanrag_retrievals_in_flight", "Retrievals holding a slot",
                           lambda: settings.api.api_max_concurrent_retrievals
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
            self.serving = {"chunks": store.count(), "embedding_model": self.settings.ingest.embedding_model}
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
            if key not in self.settings.api.api_overrides:
                errors.append(field_error(("body", field, key), f"{key!r} cannot be overridden per request; "
                                     f"allowed: {', '.join(self.settings.api.api_overrides)}"))
            elif (msg := strict_error(key, value)) is not None:
                errors.append(field_error(("body", field, key), msg))
        if errors:
            raise HTTPException(422, errors)
        try:
            resolved = self.settings.replace(**requested) if requested else self.settings
        except ValidationError as e:
            raise HTTPException(422, [field_error(("body", field, *map(str, flat_loc(err["loc"]))), err["msg"])
                                      for err in e.errors()]) from None
        errors = [field_error(("body", field, key), msg)
                  for key, msg in ceiling_errors(self.settings, resolved, requested)]
        if errors:
            raise HTTPException(422, errors)
        return resolved

    @staticmethod
    def needs_model(s: Settings, *, answering: bool) -> bool:
        return s.rerank.reranker == "llm" or (answering and resolve_answerer(s) != "extractive")

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
        take_slot(self.slots, "model calls", "api_max_concurrent_llm", self.settings.api.api_max_concurrent_llm,
              self.settings.api.api_llm_queue_timeout)

    @contextmanager
    def retrieval_slot(self) -> Iterator[None]:
        """Retrieval embeds and scores on this machine's cores: bounded like model calls."""
        take_slot(self.retrievals, "retrievals", "api_max_concurrent_retrievals",
              self.settings.api.api_max_concurrent_retrievals, self.settings.api.api_llm_queue_timeout)
        try:
            yield
        finally:
            self.retrievals.release()

    def check_passages(self, passages: list[str | dict[str, Any]] | None) -> list[str | dict[str, Any]] | None:
        if passages is None:
            return None
        texts = [p if isinstance(p, str) else str(p.get("text", "")) for p in passages]
        chars = sum(len(t) for t in texts)
        limit = self.settings.api.api_max_passage_chars
        if chars > limit:
            raise HTTPException(413, [field_error(("body", "passages"),
                                                  f"{chars} characters of passages; at most {limit}")])
        sentences = sum(len(sentence_spans(t)) for t in texts)
        limit = self.settings.api.api_max_passage_sentences
        if sentences > limit:
            raise HTTPException(413, [field_error(("body", "passages"),
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
        question, passages = self.check_question(req.question), self.check_passages(passages_of(req))
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
            raise HTTPException(422, [field_error(field, "the question is empty")])
        if len(question) > self.settings.api.api_max_question_chars:
            raise HTTPException(422, [field_error(field, f"the question is longer than "
                                                    f"{self.settings.api.api_max_question_chars} characters")])
        return question


def passages_of(req: RetrieveRequest) -> list[str | dict[str, Any]] | None:
    if req.passages is None:
        return None
    return [p if isinstance(p, str) else p.model_dump(exclude_none=True) for p in req.passages]


# ---- routes: module-level, each given the app's Service through a dependency -----------------------
def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


Svc = Annotated[Service, Depends(service)]
