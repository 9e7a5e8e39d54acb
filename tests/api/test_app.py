"""The HTTP API under real uvicorn on loopback, answering through the OpenAI-compatible test server."""
from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import sys

import httpx
import openai
import pytest

from rag import Pipeline, Settings
from rag.api.app import create_app
from rag.cli import serve_problems
from tests.conftest import CORPUS, free_port, wait_http
from tests.fake_openai import API_KEY, ServerThread

pytestmark = pytest.mark.integration
USER, ADMIN = "user-token-0123456789", "admin-token-0123456789"
QUESTION = "What is the output token ceiling of o1-mini?"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, embedder, fake_openai):
    root = tmp_path_factory.mktemp("api")
    (root / "docs").mkdir()
    for name in ["output-limits.txt", "context-budget.md", "sourdough.md", "cached-tokens.md"]:
        shutil.copy(CORPUS / name, root / "docs" / name)
    settings = Settings(store_path=root / "store", answerer="openai", llm_base_url=fake_openai.url,
                        llm_api_key=API_KEY, llm_model="gpt-5-mini", llm_timeout=1.5, llm_max_retries=0,
                        api_key=USER, api_admin_key=ADMIN, api_max_body_bytes=20_000,
                        api_max_concurrent_llm=1, api_llm_queue_timeout=0.2)
    pipeline = Pipeline(settings, embedder=embedder)
    pipeline.ingest([root / "docs"])
    with ServerThread(free_port(), create_app(settings, pipeline=pipeline)) as server:
        client = httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {USER}"}, timeout=60)
        wait_http(f"{server.root}/readyz")
        client.root = server.root  # type: ignore[attr-defined]
        yield client


def test_health_ready_and_docs(api) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz").json()  # what it serves, so a wrong store shows at once
    assert ready["ready"] is True and ready["chunks"] > 0 and ready["embedding_model"].endswith("all-MiniLM-L6-v2")
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/v1/answer", "/v1/retrieve", "/v1/chat/completions", "/v1/ingest"} <= set(paths)


def test_auth(api, llm) -> None:
    body = {"question": QUESTION}
    assert httpx.post(f"{api.root}/v1/retrieve", json=body).status_code == 401
    assert httpx.post(f"{api.root}/v1/retrieve", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    doc = {"documents": [{"id": "x", "text": "A short note about quokkas on Rottnest Island."}]}
    r = api.post("/v1/ingest", json=doc)
    assert r.status_code == 403 and "admin" in r.json()["detail"]


def test_retrieve_with_overrides_within_limits(api) -> None:
    r = api.post("/v1/retrieve", json={"question": QUESTION, "overrides": {"token_budget": 60, "hop": False}})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["tokens"] <= 60 and "65,536" in " ".join(p["text"] for p in data["passages"])
    assert [s["name"] for s in data["trace"]["stages"] if s["name"] != "load"][:2] == ["candidates", "rerank"]
    refused = api.post("/v1/retrieve", json={"question": QUESTION, "overrides": {"llm_base_url": "http://evil"}})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "overrides", "llm_base_url"]
    too_big = api.post("/v1/retrieve", json={"question": QUESTION, "overrides": {"candidate_depth": 5000}})
    assert too_big.status_code == 422 and too_big.json()["detail"][0]["loc"][-1] == "candidate_depth"
    deeper = api.post("/v1/retrieve", json={"question": QUESTION, "overrides": {"candidate_depth": 51}})
    assert deeper.status_code == 422 and "at most 50" in deeper.json()["detail"][0]["msg"]  # the operator's 50
    wrong_type = api.post("/v1/retrieve", json={"question": QUESTION, "overrides": {"token_budget": "lots"}})
    assert wrong_type.status_code == 422 and "token_budget" in wrong_type.json()["detail"][0]["loc"]
    filtered = api.post("/v1/retrieve", json={"question": QUESTION, "filters": {"doc_id": "nothing-matches"}})
    assert filtered.status_code == 200


def test_answer_has_everything(api, llm) -> None:
    r = api.post("/v1/answer", json={"question": QUESTION, "overrides": {"reasoning_effort": "low"}})
    assert r.status_code == 200, r.text
    data = r.json()
    assert {"answer", "citations", "context", "usage", "cost", "timings", "trace"} <= set(data)
    assert data["usage"]["reasoning_tokens"] > 0 and data["cost"] > 0 and data["citations"]
    assert llm.requests()[0]["body"]["reasoning_effort"] == "low"


def test_openai_client_can_use_leanrag_as_a_model(api, llm) -> None:
    client = openai.OpenAI(base_url=f"{api.root}/v1", api_key=USER, max_retries=0)
    resp = client.chat.completions.create(model="leanrag", messages=[
        {"role": "system", "content": "You are helpful."}, {"role": "user", "content": QUESTION}])
    assert resp.choices[0].message.content and resp.usage.completion_tokens_details.reasoning_tokens > 0
    sent = llm.requests()[-1]["body"]["messages"][-1]["content"]
    assert "<passage" in sent and "65,536" in sent                   # the lean context was injected
    chunks = list(client.chat.completions.create(model="leanrag", messages=[{"role": "user", "content": QUESTION}],
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == resp.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="leanrag", messages=[{"role": "assistant", "content": "hi"}])


@pytest.mark.parametrize(("script", "status", "text"), [
    ([{"status": 429, "retry_after": "120"}], 429, "rate limited"),
    ([{"status": 500}], 502, "failed (500)"),
    ([{"status": 401}], 502, "refused the API key"),
    ([{"delay": 3}], 504, "did not answer"),
])
def test_upstream_errors_map_to_meaningful_statuses(api, llm, script, status, text) -> None:
    llm.script(script)
    r = api.post("/v1/answer", json={"question": QUESTION})
    assert r.status_code == status and text in r.json()["detail"]
    assert API_KEY not in r.text and "Traceback" not in r.text
    if status == 429:
        assert r.headers["retry-after"] == "120"


def test_limits_are_clear_4xx(api) -> None:
    big = api.post("/v1/retrieve", content=b'{"question": "' + b"x" * 30_000 + b'"}',
                   headers={"content-type": "application/json"})
    assert big.status_code == 413
    long_q = api.post("/v1/retrieve", json={"question": "why " * 600})
    assert long_q.status_code == 422 and long_q.json()["detail"][0]["loc"] == ["body", "question"]
    assert api.post("/v1/retrieve", json={"question": "   "}).status_code == 422
    bad_json = api.post("/v1/retrieve", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 422
    missing = api.post("/v1/answer", json={})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "question"]


def test_concurrent_model_calls_are_limited(api, llm) -> None:
    llm.script([{"delay": 1.0}])
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(api.post, "/v1/answer", json={"question": QUESTION}) for _ in range(2)]
        codes = sorted(f.result().status_code for f in futures)
    assert codes == [200, 429]
    # retrieval needs no model slot: it is never refused for that
    assert api.post("/v1/retrieve", json={"question": QUESTION}).status_code == 200


def test_ingest_adds_and_updates_documents(api) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    doc = {"id": "quokka", "title": "Quokkas", "text": "The quokka is a small marsupial that lives on Rottnest Island."}
    r = api.post("/v1/ingest", json={"documents": [doc]}, headers=admin)
    assert r.status_code == 200 and r.json()["added"] == 1
    again = api.post("/v1/ingest", json={"documents": [doc]}, headers=admin).json()
    assert again["added"] == 0 and again["unchanged"] == 1                    # nothing re-embedded
    found = api.post("/v1/retrieve", json={"question": "Where do quokkas live?"}).json()
    assert "Rottnest" in found["passages"][0]["text"] and found["passages"][0]["source"] == "api:quokka"
    dup = api.post("/v1/ingest", json={"documents": [doc, doc]}, headers=admin)
    assert dup.status_code == 422


def test_serve_refuses_unsafe_settings() -> None:
    assert serve_problems(Settings(api_host="127.0.0.1")) == []
    assert "RAG_API_KEY" in serve_problems(Settings(api_host="0.0.0.0"))[0]
    assert serve_problems(Settings(api_host="0.0.0.0", api_key="k" * 16)) == []
    assert "at least 16" in serve_problems(Settings(api_host="0.0.0.0", api_key=""))[0]
    assert "Chroma server" in serve_problems(Settings(api_workers=2))[0]
    assert serve_problems(Settings(api_workers=2, chroma_host="127.0.0.1")) == []
    out = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--workers", "2"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "Chroma server" in out.stderr and "Traceback" not in out.stderr


def test_serve_command_starts_and_reports_ready(tmp_path) -> None:
    port = free_port()
    typo = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--store",
                           str(tmp_path / "stroe")], capture_output=True, text=True, timeout=120)
    assert typo.returncode == 2 and "nothing to serve" in typo.stderr and "--allow-empty-store" in typo.stderr
    assert not (tmp_path / "stroe").exists()  # a mistyped store is not created
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--store",
                             str(tmp_path / "store"), "--allow-empty-store"], stderr=subprocess.PIPE, text=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", proc=proc)
        doc = {"documents": [{"id": "a", "text": "Leanrag keeps contexts short on purpose."}]}
        r = httpx.post(f"http://127.0.0.1:{port}/v1/ingest", timeout=60, json=doc)
        assert r.status_code == 403 and "RAG_API_OPEN_INGEST" in r.text  # no key: ingest closed by default
        r = httpx.post(f"http://localhost:{port}/v1/retrieve", timeout=60, json={"question": "q?"},
                       headers={"Host": f"attacker.example:{port}"})
        assert r.status_code == 421                                     # DNS rebinding: a foreign Host
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "loopback" in err
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--store",
                             str(tmp_path / "store"), "--allow-empty-store"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RAG_API_OPEN_INGEST": "true"})
    try:
        wait_http(f"http://localhost:{port}/readyz", proc=proc)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/ingest", timeout=60, json=doc)
        assert r.status_code == 200                                     # the operator opted in
        ans = httpx.post(f"http://127.0.0.1:{port}/v1/answer", json={"question": "What does leanrag keep short?"},
                         timeout=60).json()
        assert ans["answerer"] == "extractive" and "short" in ans["answer"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "loopback" in err


def test_answer_json_is_plain_json(api) -> None:
    r = api.post("/v1/answer", json={"question": QUESTION, "overrides": {"answerer": "extractive"}})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["question"] == QUESTION and isinstance(body["answer"], str) and body["answer"]
    assert body["abstained"] is False and body["answerer"] == "extractive"
    assert [c["id"] for c in body["citations"]] and all(isinstance(c["id"], str) for c in body["citations"])
    assert body["context"]["tokens"] > 0 and body["context"]["passages"]
    assert all(isinstance(v, int) for v in body["usage"].values() if not isinstance(v, str))
