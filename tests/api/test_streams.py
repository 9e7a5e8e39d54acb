"""Streamed answers give their model slot back exactly once, however they end (real uvicorn, real
HTTP clients that leave early, the OpenAI-compatible test server upstream)."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from rag import Pipeline, Settings
from rag.api.app import create_app
from rag.types import Document
from tests.conftest import free_port, wait_http
from tests.fake_openai import API_KEY, ServerThread

pytestmark = pytest.mark.integration
KEY = "streams-test-key-0123456789"
SLOTS = 2
BODY = {"model": "leanrag", "stream": True,
        "messages": [{"role": "user", "content": "What do quokkas eat? Answer in detail."}]}
PASSAGES = ["Quokkas eat leaves, grasses and stems.", "Bread needs flour."]


def _app(tmp_path, embedder, fake_openai, **kw):  # noqa: ANN001, ANN202
    settings = Settings(store_path=tmp_path / "store", answerer="openai", llm_base_url=fake_openai.url,
                        llm_api_key=API_KEY, llm_model="gpt-5-mini", llm_max_retries=0, api_key=KEY,
                        api_max_concurrent_llm=SLOTS, api_llm_queue_timeout=0.2, **kw)
    pipeline = Pipeline(settings, embedder=embedder)
    pipeline.ingest_documents([Document(id=f"d{i}", source=f"api:d{i}", title="", text=t)
                               for i, t in enumerate(PASSAGES)])
    return create_app(settings, pipeline=pipeline)


def _free_slots(app) -> int:  # noqa: ANN001
    return app.state.service.slots._value


def _wait_for_slots(app, want: int) -> int:  # noqa: ANN001
    deadline = time.monotonic() + 60  # handlers of dropped requests may still be retrieving; never a leak
    while _free_slots(app) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    return _free_slots(app)


def test_dropped_streams_give_every_slot_back(tmp_path, embedder, fake_openai, llm) -> None:
    app = _app(tmp_path, embedder, fake_openai)
    with ServerThread(free_port(), app) as server:
        wait_http(f"{server.root}/readyz")
        headers = {"Authorization": f"Bearer {KEY}"}
        # leave before the first byte: the request is sent, the client is gone before the handler returns
        llm.script([{"delay": 0.5}] * 6)
        for _ in range(6):
            with pytest.raises(httpx.TimeoutException):
                httpx.post(f"{server.url}/chat/completions", json=BODY, headers=headers, timeout=0.1)
        assert _wait_for_slots(app, SLOTS) == SLOTS
        # leave after the first event
        for _ in range(4):
            with httpx.stream("POST", f"{server.url}/chat/completions", json=BODY, headers=headers,
                              timeout=30) as r:
                assert r.status_code == 200
                next(r.iter_lines())
        assert _wait_for_slots(app, SLOTS) == SLOTS
        # and a stream read to its end still works, then gives its slot back
        with httpx.stream("POST", f"{server.url}/chat/completions", json=BODY, headers=headers, timeout=30) as r:
            lines = [x for x in r.iter_lines() if x.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        assert _wait_for_slots(app, SLOTS) == SLOTS


def test_a_stream_longer_than_allowed_ends_with_an_error_event(tmp_path, embedder, fake_openai, llm) -> None:
    app = _app(tmp_path, embedder, fake_openai, api_stream_max_seconds=0.001)
    with ServerThread(free_port(), app) as server:
        wait_http(f"{server.root}/readyz")
        with httpx.stream("POST", f"{server.url}/chat/completions", json=BODY,
                          headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as r:
            events = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: {")]
        assert events[-1]["error"]["type"] == "StreamTimeout"
        assert "api_stream_max_seconds" in events[-1]["error"]["message"]
        assert _wait_for_slots(app, SLOTS) == SLOTS
