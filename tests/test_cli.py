"""`rag ask` end to end: a real store, the CLI in a subprocess, the test server as the model."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from rag import Pipeline, Settings
from tests.conftest import CORPUS
from tests.fake_openai import API_KEY

pytestmark = pytest.mark.integration
QUESTION = "What is the output token ceiling of o1-mini?"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, embedder) -> str:
    root = tmp_path_factory.mktemp("ask")
    (root / "docs").mkdir()
    for name in ["output-limits.txt", "context-budget.md", "sourdough.md", "injection-test.md"]:
        shutil.copy(CORPUS / name, root / "docs" / name)
    Pipeline(Settings(store_path=root / "store"), embedder=embedder).ingest([root / "docs"])
    return str(root / "store")


def rag(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k != "OPENAI_API_KEY"}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**clean, **(env or {})})


def test_ask_json_has_answer_citations_context_and_usage(store, llm) -> None:
    out = rag("ask", QUESTION, "--store", store, "--json", "--base-url", llm.url, "--model", "gpt-5-mini",
              "--effort", "low", env={"OPENAI_API_KEY": API_KEY})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["answerer"] == "openai" and data["citations"][0]["label"] == 1
    assert "65,536" in data["messages"][-1]["content"]
    assert data["usage"]["reasoning_tokens"] > 0 and data["cost"] > 0
    assert {"retrieve_ms", "first_token_ms", "answer_ms", "total_ms"} <= set(data["timings"])
    assert [s["name"] for s in data["context"]["trace"]["stages"]][:2] == ["load", "candidates"]
    body = llm.requests()[0]["body"]
    assert body["reasoning_effort"] == "low" and "max_completion_tokens" in body


def test_ask_text_shows_usage_and_what_was_sent_and_streams(store, llm) -> None:
    out = rag("ask", QUESTION, "--store", store, "--stream", "--base-url", llm.url, "--model", "deepseek-reasoner",
              "--show-reasoning", env={"OPENAI_API_KEY": API_KEY})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("answer: ") and "usage: prompt" in out.stdout and "reasoning (" in out.stdout
    assert "--- user ---" in out.stdout and "<passage id=\"1\"" in out.stdout


def test_ask_without_endpoint_is_extractive(store) -> None:
    out = rag("ask", QUESTION, "--store", store, "--json")
    data = json.loads(out.stdout)
    assert data["answerer"] == "extractive" and "65,536" in data["answer"] and data["messages"] == []


def test_ask_with_a_bad_key_fails_clearly(store, llm) -> None:
    out = rag("ask", QUESTION, "--store", store, "--base-url", llm.url, env={"OPENAI_API_KEY": "sk-bad-secret-999"})
    assert out.returncode == 3
    assert "refused the API key" in out.stderr and "sk-bad-secret-999" not in out.stderr + out.stdout
    assert "Traceback" not in out.stderr
