"""A caller's mistake is a 4xx / exit 2 naming it; a fault of the service is a logged 500 / exit 1."""
from __future__ import annotations

import logging
import time

import httpx
import pytest

from rag import Pipeline, Settings
from rag.api.app import create_app
from rag.cli import main
from rag.errors import InputError
from tests.conftest import free_port, wait_http
from tests.fake_openai import ServerThread

pytestmark = pytest.mark.integration
KEY = "errors-test-key-0123456789"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, embedder):
    settings = Settings(store_path=tmp_path_factory.mktemp("errors") / "store", api_key=KEY)
    pipeline = Pipeline(settings, embedder=embedder)
    with ServerThread(free_port(), create_app(settings, pipeline=pipeline)) as server:
        wait_http(f"{server.root}/readyz")
        client = httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        yield client, pipeline


def test_bad_input_is_a_422_naming_it(served) -> None:
    client, _ = served
    r = client.post("/v1/retrieve", json={"question": "q?", "passages": [{"id": "a", "text": "x"},
                                                                          {"id": "a", "text": "y"}]})
    assert r.status_code == 422 and "duplicate id 'a'" in str(r.json()["detail"])
    r = client.post("/v1/retrieve", json={"question": "q?", "passages": ["fine", ""]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:3] == ["body", "passages", 1]


def test_passages_as_plain_strings_are_first_class(served) -> None:
    client, _ = served
    r = client.post("/v1/retrieve", json={"question": "What do quokkas eat?",
                                          "passages": ["Quokkas eat leaves and grasses.",
                                                       {"text": "Bread needs flour."}]})
    assert r.status_code == 200, r.text
    text = " ".join(p["text"] for p in r.json()["passages"])
    assert "Quokkas eat leaves" in text and "flour" not in text


def test_a_fault_is_a_logged_500_not_a_422(served, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    client, pipeline = served

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("internal invariant broken at /srv/secret/path")

    monkeypatch.setattr(pipeline, "retrieve", broken)
    with caplog.at_level(logging.ERROR):
        r = client.post("/v1/retrieve", json={"question": "What is a quokka?", "passages": ["Quokkas hop."]})
    assert r.status_code == 500 and r.json() == {"detail": "internal error; see the service log"}, r.text
    assert "/srv/secret" not in r.text
    assert any("invariant broken" in (rec.exc_text or "") + rec.getMessage() or rec.exc_info for rec in caplog.records)


def test_cli_exit_codes_tell_input_from_faults(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                               tmp_path) -> None:
    assert main(["retrieve", "q?", "--where", "[1]", "--store", str(tmp_path / "s")]) == 2
    assert "--where must be a JSON object" in capsys.readouterr().err

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug, not your input")

    monkeypatch.setattr(Pipeline, "retrieve", broken)
    monkeypatch.setattr(Pipeline, "from_settings", classmethod(lambda cls, *a, **k: cls(Settings(store_path=tmp_path))))
    code = main(["retrieve", "q?", "--store", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 1 and "unexpected ValueError: a bug, not your input" in err and "--verbose" in err


def test_settings_fixed_at_construction_are_refused_per_call(embedder, tmp_path) -> None:
    p = Pipeline(Settings(store_path=tmp_path / "s"), embedder=embedder)
    with pytest.raises(InputError, match="collection cannot change per call.*from_settings"):
        p.search("q?", collection="another")
    with pytest.raises(InputError, match="embedding_model, store_path cannot change per call"):
        p.retrieve("q?", passages=["x"], store_path=tmp_path / "t", embedding_model="other")
    # the same value is not a change, and per-call settings still work
    ctx = p.retrieve("What do quokkas eat?", passages=["Quokkas eat leaves.", "Bread needs flour."],
                     collection="leanrag", token_budget=50)
    assert "Quokkas eat leaves." in ctx.text


def test_readyz_says_nothing_an_attacker_could_use(tmp_path, embedder) -> None:
    blocker = tmp_path / "secret-dir" / "not-a-folder"
    blocker.parent.mkdir()
    blocker.write_text("a file where the store should be")
    settings = Settings(store_path=blocker / "store", api_key=KEY)
    with ServerThread(free_port(), create_app(settings, pipeline=Pipeline(settings, embedder=embedder))) as server:
        deadline = time.monotonic() + 60
        while (r := httpx.get(f"{server.root}/readyz")).json().get("detail") == "loading models":
            assert time.monotonic() < deadline
        assert r.status_code == 503 and r.json() == {"ready": False, "detail": "loading failed; see the service log"}
        own = httpx.post(f"{server.root}/v1/retrieve", json={"question": "q?"},
                         headers={"Authorization": f"Bearer {KEY}"})
        assert own.status_code == 503 and "secret-dir" in own.text  # the operator's own clients see why


def test_filters_chroma_cannot_run_are_a_422(served) -> None:
    """A field named like an operator, and $and nested 100 deep, passed Chroma's client check and failed in
    its engine: a 500 once."""
    client, pipeline = served
    from rag.types import Document

    pipeline.ingest_documents([Document("f1", "api:f1", "Filters", "Filters narrow the store before a search.",
                                        "text")])
    deep: dict = {"source": "x"}
    for _ in range(100):
        deep = {"$and": [deep, {"source": "y"}]}
    for where in ({"$foo": 1}, deep):
        r = client.post("/v1/retrieve", json={"question": "What do filters do?", "filters": where})
        assert r.status_code == 422, r.text
        assert "filters" in r.json()["detail"][0]["msg"]
    ok = client.post("/v1/retrieve", json={"question": "What do filters do?",
                                           "filters": {"$and": [{"source": "x"}, {"source": {"$ne": "y"}}]}})
    assert ok.status_code == 200, ok.text
