"""Secrets stay secret: out of reprs, URLs in errors, the worker hand-over, and cache keys."""
from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import SecretStr

from rag import Pipeline, Settings
from rag.llm.endpoint import EndpointConfig
from rag.net import redact
from rag.pipeline import ANSWERERS_KEPT


def test_endpoint_config_repr_hides_the_key() -> None:
    cfg = EndpointConfig("https://llm.example/v1", "gpt-5-mini", "sk-live-0123456789abcdef")
    assert "sk-live" not in repr(cfg) and "sk-live" not in str(cfg)


def test_urls_in_messages_lose_their_credentials() -> None:
    msg = redact("cannot reach https://bob:hunter2@llm.example/v1?key=abc123&deployment=x (and http://h?token=t)")
    assert "hunter2" not in msg and "abc123" not in msg and "token=t" not in msg
    assert "llm.example/v1" in msg and "deployment=x" in msg


def test_a_changed_key_gets_its_own_answerer_and_the_cache_is_bounded(tmp_path) -> None:
    p = Pipeline(Settings(store_path=tmp_path, answerer="openai", llm_base_url="http://127.0.0.1:9/v1",
                          llm_api_key=SecretStr("key-one-0123456789")))
    first = p._answerer(p.settings)
    assert p._answerer(p.settings) is first
    other = p._answerer(p.settings.replace(llm_api_key=SecretStr("key-two-0123456789")))
    assert other is not first and other.endpoint.cfg.api_key == "key-two-0123456789"  # type: ignore[attr-defined]
    for t in range(ANSWERERS_KEPT + 10):
        p._answerer(p.settings.replace(temperature=t / 100))
    assert len(p.__dict__["_answerers"]) == ANSWERERS_KEPT
    assert len(p.__dict__["_endpoints"]) == ANSWERERS_KEPT
    # the LLM reranker stands on the answerer's endpoint: one client, one key
    last = p.settings.replace(temperature=(ANSWERERS_KEPT + 9) / 100)
    assert p._llm_reranker(last).complete.__self__ is p._answerer(last).endpoint  # type: ignore[attr-defined]


def test_serve_workers_get_every_setting_and_no_secret_through_the_environment(monkeypatch, tmp_path) -> None:
    import stat

    import uvicorn

    from rag.api.app import SETTINGS_ENV, app_from_env
    from rag.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream-0123456789")
    monkeypatch.setenv("RAG_CHROMA_HOST", "127.0.0.1")  # never contacted: uvicorn.run is replaced
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)  # the hand-over is what is checked here
    # keys given with --set, not in the environment: they once never reached the workers
    assert main(["serve", "--workers", "2", "--store", str(tmp_path / "s"), "--set", "api_key=service-key-0123456789",
                 "--set", "api_admin_key=admin-key-0123456789", "--set", "token_budget=123",
                 "--allow-empty-store"]) == 0
    handed = os.environ[SETTINGS_ENV]
    assert "service-key" not in handed and "sk-upstream" not in handed and "admin-key" not in handed
    assert stat.S_IMODE(os.stat(handed).st_mode) == 0o600
    assert json.loads(Path(handed).read_text())["api_workers"] == 2
    monkeypatch.delenv("OPENAI_API_KEY")  # a worker must not depend on the parent's environment for keys
    monkeypatch.setattr("rag.api.app.configure_process", lambda s: None)
    monkeypatch.setattr("rag.api.app.create_app", lambda s: s)
    worker_settings = app_from_env()
    assert worker_settings.api.api_key.get_secret_value() == "service-key-0123456789"  # type: ignore[union-attr]
    assert worker_settings.api.api_admin_key.get_secret_value() == "admin-key-0123456789"  # type: ignore[union-attr]
    assert worker_settings.answer.llm_api_key.get_secret_value() == "sk-upstream-0123456789"  # type: ignore[union-attr]
    assert worker_settings.prune.token_budget == 123
    monkeypatch.delenv(SETTINGS_ENV)
