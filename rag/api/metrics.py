"""What a Prometheus scrape of ``GET /metrics`` shows, and one JSON access-log line per request.

Each app has its own registry (tests and several apps in one process do not share counters). Route
labels are the app's own paths only, so a client cannot create label values at will.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

from rag.types import Answer, Context

access = logging.getLogger("rag.api.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_TOKEN_BUCKETS = (25, 50, 100, 200, 350, 500, 1000, 2000, 4000, 8000)


class Metrics:
    def __init__(self, routes: set[str]) -> None:
        self.routes = routes
        self.registry = r = CollectorRegistry()
        self.requests = Counter("leanrag_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=r)
        self.latency = Histogram("leanrag_request_seconds", "HTTP request latency", ["route"], registry=r)
        self.stage = Histogram("leanrag_stage_seconds", "Time per retrieval stage", ["stage"], registry=r)
        self.context_tokens = Histogram("leanrag_context_tokens", "Tokens of each lean context",
                                        buckets=_TOKEN_BUCKETS, registry=r)
        self.model_tokens = Counter("leanrag_model_tokens", "Model tokens by model and kind "
                                    "(prompt, cached, completion, reasoning)", ["model", "kind"], registry=r)
        self.cost = Counter("leanrag_model_cost_usd", "Model cost in USD by model", ["model"], registry=r)
        self.abstained = Counter("leanrag_abstained", "Answers given without a model call", registry=r)

    def gauge(self, name: str, doc: str, read: Callable[[], float]) -> None:
        Gauge(name, doc, registry=self.registry).set_function(read)

    def caches(self, read: Callable[[], dict[str, tuple[int, int]]]) -> None:
        """``leanrag_cache_lookups_total{cache, result}`` from (hits, lookups) per cache, read at each scrape."""
        self.registry.register(_CacheLookups(read))

    def scrape(self) -> bytes:
        return generate_latest(self.registry)

    def context(self, ctx: Context) -> None:
        for st in ctx.trace.stages:
            self.stage.labels(st.name).observe(st.ms / 1000)
        self.context_tokens.observe(ctx.tokens)

    def answer(self, ans: Answer) -> None:
        self.context(ans.context)
        if ans.abstained:
            self.abstained.inc()
        model = ans.model or ans.answerer
        u = ans.usage
        for kind, n in (("prompt", u.prompt_tokens), ("cached", u.cached_tokens),
                        ("completion", u.completion_tokens), ("reasoning", u.reasoning_tokens)):
            if n:
                self.model_tokens.labels(model, kind).inc(n)
        if ans.cost:
            self.cost.labels(model).inc(ans.cost)


# The id of the request being served, for the code that runs it (sync routes run in a worker thread,
# which Starlette starts with a copy of this context).
REQUEST_ID: ContextVar[str] = ContextVar("leanrag_request_id", default="")


class _CacheLookups:
    def __init__(self, read: Callable[[], dict[str, tuple[int, int]]]) -> None:
        self.read = read

    def describe(self) -> list:
        return []  # read lazily: the registry must not call ``read`` when it is registered

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("leanrag_cache_lookups", "In-memory cache lookups by cache and result "
                                     "(hit ratio = hit / (hit + miss))", labels=["cache", "result"])
        for cache, (hits, lookups) in sorted(self.read().items()):
            family.add_metric([cache, "hit"], hits)
            family.add_metric([cache, "miss"], lookups - hits)
        yield family


class RequestLog:
    """ASGI middleware: a request id (the client's ``X-Request-ID`` if sane, else a new one) in the response
    headers, request counts and latency by route and status, and one JSON log line per request."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        route = scope["path"] if scope["path"] in self.metrics.routes else "other"
        status, t0 = 500, time.perf_counter()

        async def tagged(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        token = REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, tagged)
        finally:
            REQUEST_ID.reset(token)
            seconds = time.perf_counter() - t0
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(seconds)
            access.info(json.dumps({"request_id": rid, "method": scope.get("method"), "route": route,
                                    "status": status, "ms": round(seconds * 1000, 1)}))
