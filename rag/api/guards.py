"""Auth and limits at the door: bearer keys, loopback host names (DNS rebinding), body size, slots of work,
and the one shape of a 4xx naming its field."""
from __future__ import annotations

import asyncio
import hmac
import json
import threading
from typing import Any

from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import SecretStr

from rag.settings import Settings


def field_error(loc: tuple[str, ...], msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": "value_error"}


MIN_KEY_CHARS = 16


def auth_problems(settings: Settings) -> list[str]:
    """Keys too short to protect anything (an empty ``RAG_API_KEY=""`` once opened the service)."""
    return [f"{name} must be at least {MIN_KEY_CHARS} characters (it has {len(key.get_secret_value())}); "
            f"unset it to serve on loopback without a key"
            for name, key in (("RAG_API_KEY", settings.api.api_key), ("RAG_API_ADMIN_KEY", settings.api.api_admin_key))
            if key is not None and len(key.get_secret_value().strip()) < MIN_KEY_CHARS]


def bearer_matches(creds: HTTPAuthorizationCredentials | None, *keys: SecretStr | None) -> bool:
    given = (creds.credentials if creds else "").strip().encode()
    if not given:  # an empty bearer token never matches, whatever the keys are
        return False
    return any(k is not None and hmac.compare_digest(given, k.get_secret_value().encode()) for k in keys)


def take_slot(slots: threading.BoundedSemaphore, what: str, setting: str, limit: int, wait: float) -> None:
    """One slot of ``slots``, waiting at most ``wait`` seconds, else a 429 the client can retry."""
    if not slots.acquire(timeout=wait):
        raise HTTPException(429, f"too many concurrent {what} ({setting}={limit}); retry shortly",
                            headers={"Retry-After": "1"})


def loopback_names(host: str) -> frozenset[str]:
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
    """Refuses bodies over ``max_bytes`` with 413, whether Content-Length says so or the stream does, and a
    body not whole within ``seconds`` of the request head with 408: a client dripping its body a byte at a
    time would otherwise hold a worker thread and a connection for as long as it liked."""

    def __init__(self, app: Any, max_bytes: int, seconds: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = seconds

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
        seen, started, whole = 0, False, False
        deadline = asyncio.get_running_loop().time() + self.seconds

        async def limited_receive() -> dict:
            nonlocal seen, whole
            if whole:  # after the body, receive() waits for a disconnect (a stream listens for it): no deadline
                return await receive()  # type: ignore[no-any-return]
            try:
                message = await asyncio.wait_for(receive(), deadline - asyncio.get_running_loop().time())
            except TimeoutError:
                raise _SlowBody from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                whole = not message.get("more_body", False)
                if seen > self.max_bytes:
                    raise _TooLarge
            return message  # type: ignore[no-any-return]

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, f"request body larger than {self.max_bytes} bytes")
        except _SlowBody:
            if not started:
                await _send_json(send, 408, f"request body not received within {self.seconds:g} s "
                                            "(api_body_seconds)")


class _SlowBody(Exception):
    pass


class _TooLarge(Exception):
    pass


async def _send_json(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
