"""One rule for an embedded store: a `rag serve` process owns it; other processes ingest through it."""
from __future__ import annotations

import shutil
import subprocess
import sys

import httpx
import pytest

from tests.conftest import CORPUS, free_port, wait_http

pytestmark = pytest.mark.integration


def _serve(port: int, store) -> subprocess.Popen:  # noqa: ANN001
    return subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--store", str(store),
                             "--allow-empty-store"], stderr=subprocess.PIPE, text=True)


def test_a_served_store_is_written_through_the_service_only(tmp_path) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    store = tmp_path / "store"
    port = free_port()
    server = _serve(port, store)
    second = None
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", proc=server)
        ingest = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(tmp_path / "corpus"), "--store",
                                 str(store)], capture_output=True, text=True, timeout=300)
        assert ingest.returncode == 2 and "POST /v1/ingest" in ingest.stderr and "Traceback" not in ingest.stderr
        other = free_port()
        second = _serve(other, store)
        url = f"http://127.0.0.1:{other}/readyz"
        wait_http(f"http://127.0.0.1:{other}/healthz", proc=second)
        for _ in range(600):  # loading fails fast; until then it says "loading models"
            r = httpx.get(url, timeout=5)
            if r.json()["detail"] != "loading models":
                break
        assert r.status_code == 503 and r.json()["detail"] == "loading failed; see the service log"
    finally:
        logs = []
        for proc in (server, second):
            if proc is not None:
                proc.terminate()
                logs.append(proc.communicate(timeout=60)[1])
    assert "another `rag serve` process has the store" in logs[1]  # the reason is in the service log
    after = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(tmp_path / "corpus"), "--store", str(store)],
                           capture_output=True, text=True, timeout=600)
    assert after.returncode == 0, after.stderr  # the server is gone: the store is free again
