"""Caller passages and retrievals are bounded: one request cannot fill memory or every core."""
from __future__ import annotations

import httpx
import pytest

from rag import Pipeline, Settings
from rag.api.app import create_app
from tests.conftest import free_port, wait_http
from tests.fake_openai import ServerThread

pytestmark = pytest.mark.integration
KEY = "limits-test-key-0123456789"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, embedder):
    settings = Settings(store_path=tmp_path_factory.mktemp("limits") / "store", api_key=KEY,
                        api_max_passage_chars=5_000, api_max_passage_sentences=40,
                        api_max_concurrent_retrievals=1, api_llm_queue_timeout=0.1, api_max_body_bytes=200_000)
    app = create_app(settings, pipeline=Pipeline(settings, embedder=embedder))
    with ServerThread(free_port(), app) as server:
        wait_http(f"{server.root}/readyz")
        yield httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {KEY}"}, timeout=60), app


def test_passage_characters_and_sentences_are_bounded(served) -> None:
    client, _ = served
    r = client.post("/v1/retrieve", json={"question": "q?", "passages": ["word " * 600, "word " * 600]})
    assert r.status_code == 413 and r.json()["detail"][0]["loc"] == ["body", "passages"]
    assert "at most 5000" in r.json()["detail"][0]["msg"]
    r = client.post("/v1/retrieve", json={"question": "q?", "passages": ["Hi. " * 30, "Yo. " * 30]})
    assert r.status_code == 413 and "sentences" in r.json()["detail"][0]["msg"]
    assert client.post("/v1/retrieve", json={"question": "q?", "passages": ["Hi. " * 10]}).status_code == 200


def test_saturated_retrievals_get_429_with_retry_after(served) -> None:
    client, app = served
    slots = app.state.service.retrievals
    assert slots.acquire(timeout=5)  # another retrieval is in flight
    try:
        r = client.post("/v1/retrieve", json={"question": "q?", "passages": ["Quokkas hop."]})
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert "api_max_concurrent_retrievals" in r.text
        chat = client.post("/v1/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": "q?"}]})
        assert chat.status_code == 429
    finally:
        slots.release()
    assert client.post("/v1/retrieve", json={"question": "q?", "passages": ["Quokkas hop."]}).status_code == 200


def test_the_vector_cache_is_bounded_by_bytes(embedder, tmp_path) -> None:
    p = Pipeline(Settings(store_path=tmp_path / "s", caller_cache_mb=0.05), embedder=embedder)
    long_passage = " ".join(f"Sentence number {i} says something." for i in range(60))  # ~93 KB of vectors
    small = [f"Quokka fact {i} is short." for i in range(20)]
    p.retrieve("What is a quokka?", passages=small)
    held = len(p._evidence)
    p.retrieve("What is a quokka?", passages=[long_passage])
    assert p.vector_cache_bytes <= 50_000 and len(p._evidence) == held  # too big to keep: the others stay
    for i in range(5):
        p.retrieve("q?", passages=[f"Batch {i} passage {j}. It has two sentences." for j in range(20)])
    assert 0 < p.vector_cache_bytes <= 50_000
    assert p.vector_cache_bytes == sum(ev.vector.nbytes + ev.sentence_vectors.nbytes for ev in p._evidence.held())


def test_caller_passages_keep_nothing_in_the_text_memos(embedder, tmp_path) -> None:
    """New passages on every call once grew the service by their lexical views (issue 35, item 3): now the
    memos answer from what they hold during a call over caller passages but keep nothing new."""
    from rag.memo import memo_bytes

    p = Pipeline(Settings(store_path=tmp_path / "s"), embedder=embedder)
    p.retrieve("What is a quokka?", passages=["Quokkas hop. They live on Rottnest Island."])  # warm
    before = memo_bytes()
    for i in range(5):
        p.retrieve(f"What does the zorbl{i} eat?",
                   passages=[f"The zorbl{i} eats flurp{i}{j}. It sleeps in the gronk{i}{j}." for j in range(20)])
    assert memo_bytes() == before
    assert len(p._evidence.held("caller")) > 0 and p._evidence.held("stored") == []


def test_an_answer_waiting_on_the_model_holds_no_retrieval_slot(embedder, llm, tmp_path) -> None:
    """One retrieval slot, one model slot, an upstream that takes 8 s: while an answer waits on the model,
    a retrieval still runs (it once got 429: the answer sat on the only retrieval slot until the model replied)."""
    import threading
    import time

    from tests.fake_openai import API_KEY

    settings = Settings(store_path=tmp_path / "store", api_key=KEY, answerer="openai", llm_base_url=llm.url,
                        llm_api_key=API_KEY, llm_model="gpt-5-mini", api_max_concurrent_retrievals=1,
                        api_max_concurrent_llm=1, api_llm_queue_timeout=0.5, abstain_below=None)
    llm.script([{"delay": 8}])
    app = create_app(settings, pipeline=Pipeline(settings, embedder=embedder))
    with ServerThread(free_port(), app) as server:
        wait_http(f"{server.root}/readyz")
        client = httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        body = {"question": "Where do quokkas live?", "passages": ["Quokkas live on Rottnest Island."]}
        answered: list[int] = []
        slow = threading.Thread(target=lambda: answered.append(client.post("/v1/answer", json=body).status_code))
        slow.start()
        deadline = time.monotonic() + 60
        while not llm.requests():  # the answer has reached the model
            assert time.monotonic() < deadline and slow.is_alive()
            time.sleep(0.05)
        assert client.post("/v1/retrieve", json=body).status_code == 200
        busy = client.post("/v1/answer", json=body)  # the model slot is taken: this one waits, then 429
        assert busy.status_code == 429 and "api_max_concurrent_llm" in busy.text
        slow.join(60)
        assert answered == [200]
