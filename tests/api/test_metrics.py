"""A Prometheus scrape after real requests shows the right counts; every response carries a request id."""
from __future__ import annotations

import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rag import Pipeline, Settings
from rag.api.app import create_app
from rag.types import Document
from tests.conftest import free_port, wait_http
from tests.fake_openai import API_KEY, ServerThread

pytestmark = pytest.mark.integration
KEY = "metrics-test-key-0123456789"


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_scrape_counts_requests_tokens_and_cost(tmp_path, embedder, fake_openai, llm,
                                                caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(store_path=tmp_path / "store", answerer="openai", llm_base_url=fake_openai.url,
                        llm_api_key=API_KEY, llm_model="gpt-5-mini", llm_max_retries=0, api_key=KEY)
    pipeline = Pipeline(settings, embedder=embedder)
    pipeline.ingest_documents([Document(id="q", source="api:q", title="Quokkas",
                                        text="Quokkas live on Rottnest Island. They eat leaves and grasses.")])
    with ServerThread(free_port(), create_app(settings, pipeline=pipeline)) as server:
        wait_http(f"{server.root}/readyz")
        c = httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        with caplog.at_level(logging.INFO, logger="rag.api.access"):
            for _ in range(3):
                assert c.post("/v1/retrieve", json={"question": "What do quokkas eat?"}).status_code == 200
            assert c.post("/v1/retrieve", json={"question": ""}).status_code == 422
            r = c.post("/v1/answer", json={"question": "What do quokkas eat?"}, headers={"X-Request-ID": "abc-123"})
            assert r.status_code == 200 and r.headers["x-request-id"] == "abc-123"
            assert r.json()["trace"]["request_id"] == "abc-123"  # the trace joins its log line
            answer = r.json()
            assert httpx.get(f"{server.root}/metrics").status_code == 401  # the key guards the numbers too
            scrape = c.get("/metrics")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    got = _samples(scrape.text)
    assert got[("leanrag_requests_total", (("route", "/v1/retrieve"), ("status", "200")))] == 3
    assert got[("leanrag_requests_total", (("route", "/v1/retrieve"), ("status", "422")))] == 1
    assert got[("leanrag_requests_total", (("route", "/v1/answer"), ("status", "200")))] == 1
    assert got[("leanrag_context_tokens_count", ())] == 4  # 3 retrievals + 1 answer
    prompt = answer["usage"]["prompt_tokens"]
    assert prompt > 0
    assert got[("leanrag_model_tokens_total", (("kind", "prompt"), ("model", "gpt-5-mini")))] == prompt
    assert got[("leanrag_model_cost_usd_total", (("model", "gpt-5-mini"),))] == pytest.approx(answer["cost"])
    assert got[("leanrag_model_calls_in_flight", ())] == 0
    def lookups(cache: str) -> tuple[float, float]:
        return tuple(got[("leanrag_cache_lookups_total", (("cache", cache), ("result", r)))]
                     for r in ("hit", "miss"))

    assert lookups("mirror") == (4, 0)  # the store's one chunk, read from memory by each of the 4 retrievals
    assert lookups("tokens")[0] >= 3  # repeated questions count their passages' tokens once
    assert any(k[0] == "leanrag_stage_seconds_count" and ("stage", "rerank") in k[1] for k in got)
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "rag.api.access"]
    assert any('"request_id": "abc-123"' in line and '"status": 200' in line for line in lines)
