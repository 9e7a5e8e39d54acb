"""Waiting for a local server, and credentials kept out of URLs (rag/net.py)."""
from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rag.net import redact, wait_ready


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_wait_ready_is_true_once_the_server_answers_200() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert wait_ready(f"{base}/health", seconds=30)
        assert not wait_ready(f"{base}/other", seconds=0.5, interval=0.1)  # answers, but not 200
    finally:
        server.shutdown()


def test_wait_ready_gives_up_as_soon_as_the_server_process_exits() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    # a port nothing listens on, and a long deadline: only the exited process can end the wait
    assert not wait_ready("http://127.0.0.1:9/health", seconds=600, proc=proc)


def test_redact_masks_userinfo_and_key_like_query_values() -> None:
    assert redact("https://user:pw@host/v1?api_key=abc&x=1&token=t#f") == "https://***@host/v1?api_key=***&x=1&token=***#f"
    assert redact("http://host:8000/v1?model=a") == "http://host:8000/v1?model=a"
    assert redact("no url here") == "no url here"
