"""The HTTP protocol `rag serve` runs: uvicorn's h11 protocol with a deadline for a request's headers.

uvicorn times out idle keep-alive connections but not a connection that never finishes its first request's
headers: 1,020 half-open connections once held the service for 20 s and more, and a partial request stayed
open for a minute. Here a connection that has not sent a whole request head within ``header_seconds`` is
closed. (Bodies are bounded by the size limit and the route's own work; a proxy in front can add more.)
"""
from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


def guarded_protocol(header_seconds: float) -> type[H11Protocol]:
    """An H11Protocol class whose connections close when no request head arrives in ``header_seconds``."""

    class HeaderDeadline(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(header_seconds, self._too_slow)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and self._head_timer is not None:  # a whole request head arrived
                self._head_timer.cancel()
                self._head_timer = None

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

        def _too_slow(self) -> None:
            self._head_timer = None
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

    return HeaderDeadline


def server_options(settings: Any) -> dict[str, Any]:
    """uvicorn's options for the service: the header deadline, the keep-alive timeout, a connection limit."""
    return {"http": guarded_protocol(settings.api.api_header_seconds),
            "timeout_keep_alive": settings.api.api_keep_alive_seconds,
            "limit_concurrency": settings.api.api_max_connections}
