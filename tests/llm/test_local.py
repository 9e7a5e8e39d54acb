"""End to end through the real llama.cpp server (llama-cpp-python[server]) serving SmolLM2-135M."""
from __future__ import annotations

import subprocess

import pytest

from rag import Pipeline, Settings
from rag.llm.local import server_command
from tests.conftest import CORPUS, free_port, wait_http

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_settings(tmp_path_factory: pytest.TempPathFactory):
    settings = Settings(answerer="local", local_port=free_port(), store_path=tmp_path_factory.mktemp("unused"))
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(server_command(settings), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{settings.answer.local_port}/v1/models", proc=proc)
        yield settings
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def passage(name: str) -> dict:
    return {"id": name, "source": name, "text": (CORPUS / name).read_text()}


def test_local_model_answers_from_the_lean_context(local_settings, embedder) -> None:
    p = Pipeline(local_settings, embedder=embedder)
    ans = p.answer("What is the output token ceiling of o1-mini?",
                   passages=[passage("output-limits.txt"), passage("sourdough.md")])
    assert ans.answerer == "local" and ans.model == "smollm2-135m-instruct"
    # a 135M model is often wrong; what is tested is that it read the context it was sent
    assert any(n in ans.text for n in ("65,536", "32,768", "100,000")), ans.text
    assert [m["role"] for m in ans.messages] == ["system", "user"]
    assert "sourdough" not in ans.messages[1]["content"].lower()       # pruned before it reached the model
    u = ans.usage
    assert u.prompt_tokens > 50 and u.completion_tokens > 0 and u.reasoning_tokens == 0
    assert ans.cost == 0.0 and ans.finish_reason == "stop"


def test_local_model_streams(local_settings, embedder) -> None:
    p = Pipeline(local_settings, embedder=embedder)
    stream = p.answer("What is the output token ceiling of o1-mini?", passages=[passage("output-limits.txt")],
                      stream=True)
    pieces = list(stream)
    assert len(pieces) > 2 and "".join(pieces).strip() == stream.answer.text
    assert stream.answer.usage.completion_tokens > 0


def test_documents_do_not_give_orders(local_settings, embedder) -> None:
    p = Pipeline(local_settings, embedder=embedder)
    ans = p.answer("Does retrieval quality matter for reasoning models?",
                   passages=[passage("injection-test.md")], min_score=None, sentence_prune=False)
    assert "Ignore all previous instructions" in ans.messages[-1]["content"]  # it did reach the model
    assert "banana" not in ans.text.lower()


def test_llm_reranker_through_llama_cpp(local_settings, embedder) -> None:
    p = Pipeline(local_settings, embedder=embedder)
    passages = [passage("sourdough.md"), passage("output-limits.txt"), passage("tide-pools.txt")]
    ctx = p.retrieve("What is the output token ceiling of o1-mini?", passages=passages, reranker="llm")
    (call,) = ctx.trace.calls                                 # one batch, its tokens counted
    assert call.model == "smollm2-135m-instruct" and call.prompt_tokens > 100 and call.completion_tokens > 0
    assert ctx.passages and all(0.0 <= x.score <= 1.0 for x in ctx.passages)
    # whatever the small model replied, every passage has a calibrated score and ungraded ones are reported
    assert all("got no grade" in w for w in ctx.trace.warnings)
