"""Half-open connections: one that never finishes its request head is closed, while other clients are
served. (uvicorn alone keeps such a connection open: 1,020 of them once held the service.)"""
from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from rag import Settings
from rag.api.guards import BodyLimit
from rag.api.protocol import server_options
from tests.conftest import free_port


def _serve(port: int, settings: Settings) -> uvicorn.Server:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           **server_options(settings)))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return server


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_connection_without_a_whole_request_head_is_closed() -> None:
    port = free_port()
    server = _serve(port, Settings(api_header_seconds=1.0))
    try:
        silent = socket.create_connection(("127.0.0.1", port))
        partial = socket.create_connection(("127.0.0.1", port))
        partial.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never the blank line
        assert httpx.get(f"http://127.0.0.1:{port}/ping", timeout=10).json() == {"pong": "yes"}
        assert _closed_by_server(silent, within=30) and _closed_by_server(partial, within=30)
        # a client that completes its head in time is answered as usual, after its slow start
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"GET /ping HTTP/1.1\r\n")
        slow.sendall(b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
        slow.settimeout(10)
        assert b"pong" in slow.recv(4096)
    finally:
        server.should_exit = True


def test_the_operator_sets_the_limits_uvicorn_gets() -> None:
    opts = server_options(Settings(api_header_seconds=3, api_keep_alive_seconds=7, api_max_connections=50))
    assert opts["timeout_keep_alive"] == 7 and opts["limit_concurrency"] == 50
    assert opts["http"].__name__ == "HeaderDeadline"


def _serve_with_body_limit(port: int, seconds: float) -> uvicorn.Server:
    app = FastAPI()
    app.add_middleware(BodyLimit, max_bytes=10_000, seconds=seconds)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/slow-stream")
    async def slow_stream() -> StreamingResponse:
        async def parts():  # noqa: ANN202
            for i in range(4):
                await asyncio.sleep(seconds)
                yield f"part {i}\n"
        return StreamingResponse(parts(), media_type="text/plain")

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return server


def test_a_body_dripped_past_the_deadline_gets_408_and_others_are_served() -> None:
    port = free_port()
    server = _serve_with_body_limit(port, seconds=1.0)
    try:
        drip = socket.create_connection(("127.0.0.1", port))
        drip.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n0123456789")
        drip.settimeout(30)
        reply = drip.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408") and b"api_body_seconds" in reply
        assert httpx.post(f"http://127.0.0.1:{port}/echo", content=b"x" * 500, timeout=10).json() == {"bytes": 500}
        # once the body is whole, the deadline is over: a response may take longer than it
        streamed = httpx.post(f"http://127.0.0.1:{port}/slow-stream", content=b"{}", timeout=30)
        assert streamed.text.splitlines() == [f"part {i}" for i in range(4)]
    finally:
        server.should_exit = True
