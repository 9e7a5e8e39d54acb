from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# Property tests draw the same examples on every run (a test must not pass or fail by the draw): the
# examples are derived from each test's own code, and no example database carries over between runs.
hypothesis_settings.register_profile("leanrag", derandomize=True, database=None)
hypothesis_settings.load_profile("leanrag")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CORPUS = ROOT / "corpus"


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's rag.toml or RAG_* variables by accident."""
    for key in list(os.environ):
        if key.startswith("RAG_") or key in {"OPENAI_API_KEY"}:
            monkeypatch.delenv(key)
    monkeypatch.setenv("RAG_CONFIG", str(tmp_path / "absent.toml"))


@pytest.fixture(scope="session")
def embedder():
    from rag.index.embedder import Embedder

    return Embedder("sentence-transformers/all-MiniLM-L6-v2")


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "corpus"
    shutil.copytree(CORPUS, dst)
    return dst


def wait_http(url: str, *, seconds: float = 180, proc=None) -> None:  # noqa: ANN001
    """Wait until ``url`` answers 200; fail early if ``proc`` (the server's process) has exited."""
    from rag.net import wait_ready

    if not wait_ready(url, seconds=seconds, proc=proc):
        pytest.fail(f"{url} did not become ready")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def fake_openai():
    """The local OpenAI-compatible test server (tests/fake_openai.py) on a free loopback port."""
    from tests.fake_openai import ServerThread

    with ServerThread(free_port()) as server:
        yield server


@pytest.fixture
def llm(fake_openai):
    """The fake server with an empty script and request log; ``llm.script([...])`` queues faults."""
    import httpx

    class Handle:
        url = fake_openai.url
        root = fake_openai.url.removesuffix("/v1")

        def script(self, actions: list[dict]) -> None:
            httpx.post(f"{self.root}/_script", json=actions, timeout=5).raise_for_status()

        def requests(self) -> list[dict]:
            return httpx.get(f"{self.root}/_requests", timeout=5).json()

    handle = Handle()
    handle.script([])
    return handle


@pytest.fixture
def openai_pipeline(embedder, llm):
    """A pipeline answering through the fake server with the gpt-5-mini family; no store."""
    from rag import Pipeline, Settings
    from tests.fake_openai import API_KEY

    settings = Settings(answerer="openai", llm_base_url=llm.url, llm_api_key=API_KEY, llm_model="gpt-5-mini",
                        llm_max_retries=3, store_path="/nonexistent/never-used")
    return Pipeline(settings, embedder=embedder)
