"""The openai answerer against the local OpenAI-compatible test server: real HTTP, real client."""
from __future__ import annotations

import logging
import time

import pytest

from rag import Pipeline, Settings
from rag.answer.prompt import INSTRUCTIONS
from rag.llm.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMNotFound,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    ReasoningBudgetExhausted,
)
from rag.types import Answer
from tests.fake_openai import API_KEY

PASSAGES = [
    {"id": "budget", "source": "docs/context-budget.md",
     "text": "Reasoning models take max_completion_tokens as their output budget. The budget covers reasoning "
             "and the visible answer. Reserve about 25,000 tokens when you start."},
    {"id": "bread", "source": "docs/sourdough.md",
     "text": "A sourdough starter is fed with flour and water every day. It smells sour when it is ready."},
]
QUESTION = "Which parameter sets the output budget of a reasoning model?"


@pytest.fixture
def pipeline(embedder, llm) -> Pipeline:
    settings = Settings(answerer="openai", llm_base_url=llm.url, llm_api_key=API_KEY, llm_model="gpt-5-mini",
                        llm_max_retries=3, store_path="/nonexistent/never-used")
    return Pipeline(settings, embedder=embedder)


def ask(p: Pipeline, **overrides) -> Answer:
    ans = p.answer(QUESTION, passages=PASSAGES, **overrides)
    assert isinstance(ans, Answer)
    return ans


@pytest.mark.parametrize(("model", "roles", "token_param", "sent", "absent"), [
    # o1-mini takes user and assistant messages only, no reasoning_effort, no temperature
    ("o1-mini", ["user"], "max_completion_tokens", {}, {"max_tokens", "reasoning_effort", "temperature"}),
    # o3-mini / gpt-5: developer message, reasoning_effort yes, temperature never
    ("o3-mini", ["developer", "user"], "max_completion_tokens", {"reasoning_effort": "low"},
     {"max_tokens", "temperature", "top_p"}),
    ("gpt-5-mini", ["developer", "user"], "max_completion_tokens", {"reasoning_effort": "low"},
     {"max_tokens", "temperature"}),
    # ordinary chat model: system prompt, max_tokens, temperature
    ("gpt-4o-mini", ["system", "user"], "max_tokens", {"temperature": 0.2},
     {"max_completion_tokens", "reasoning_effort"}),
    # DeepSeek-R1: every instruction in the user turn, max_tokens
    ("deepseek-reasoner", ["user"], "max_tokens", {}, {"max_completion_tokens", "reasoning_effort", "temperature"}),
])
def test_each_family_gets_exactly_the_parameters_it_accepts(pipeline, llm, model, roles, token_param, sent,
                                                            absent) -> None:
    ans = ask(pipeline, llm_model=model, reasoning_effort="low", temperature=0.2)
    (req,) = llm.requests()
    body = req["body"]
    assert [m["role"] for m in body["messages"]] == roles
    assert body["model"] == model
    assert token_param in body and body[token_param] <= 25_000
    for key, value in sent.items():
        assert body[key] == value
    assert not absent & set(body), f"sent {absent & set(body)} to {model}"
    assert req["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert ans.messages == body["messages"]                    # the exact messages are kept
    assert INSTRUCTIONS in body["messages"][0]["content"]
    assert ans.text.endswith("[1]") and ans.citations[0].id == ans.context.passages[0].id


def test_reasoning_and_cached_tokens_and_cost_are_accounted(pipeline, llm) -> None:
    llm.script([{"cached": 128}])
    ans = ask(pipeline, llm_model="gpt-5-mini")
    u = ans.usage
    assert u.reasoning_source == "usage" and u.reasoning_tokens > u.prompt_tokens // 2 - 1
    assert u.cached_tokens == 128
    assert u.completion_tokens == u.reasoning_tokens + u.answer_tokens
    expected = ((u.prompt_tokens - 128) * 0.25 + 128 * 0.025 + u.completion_tokens * 2.0) / 1e6
    assert ans.cost == pytest.approx(expected, rel=1e-6)
    assert ans.finish_reason == "stop" and ans.attempts == 1
    assert set(ans.timings) == {"retrieve_ms", "first_token_ms", "answer_ms", "total_ms"}
    assert ans.timings["total_ms"] >= ans.timings["retrieve_ms"] + ans.timings["answer_ms"] - 1


def test_price_table_is_overridable_in_settings(pipeline, llm) -> None:
    ans = ask(pipeline, llm_model="gpt-5-mini", llm_prices={"gpt-5-mini": (1.0, 1.0, 1.0)})
    assert ans.cost == pytest.approx((ans.usage.prompt_tokens + ans.usage.completion_tokens) / 1e6)


def test_reasoning_content_is_kept_apart_and_counted(pipeline, llm) -> None:
    ans = ask(pipeline, llm_model="deepseek-reasoner")
    assert ans.reasoning and "Passage 1" in ans.reasoning
    assert "Passage 1 says" not in ans.text
    assert ans.usage.reasoning_source == "counted" and ans.usage.reasoning_tokens > 5


@pytest.mark.parametrize("stream", [False, True])
def test_think_blocks_never_reach_the_answer(pipeline, llm, stream) -> None:
    model = "deepseek-r1-distill-qwen-7b"
    if stream:
        s = pipeline.answer(QUESTION, passages=PASSAGES, llm_model=model, stream=True)
        pieces = list(s)
        ans = s.answer
        assert "".join(pieces).strip() == ans.text
    else:
        ans = ask(pipeline, llm_model=model)
    assert "<think>" not in ans.text and "</think>" not in ans.text and "think>" not in ans.text
    assert ans.reasoning == "Let me look at the passages. Passage 1 says what is asked."
    assert ans.usage.reasoning_source == "counted"


def test_streaming_yields_text_as_it_arrives_and_usage_at_the_end(pipeline, llm) -> None:
    s = pipeline.answer(QUESTION, passages=PASSAGES, llm_model="gpt-5-mini", stream=True)
    assert s.answer is None
    pieces = list(s)
    assert len(pieces) > 3                                    # several chunks, not one blob
    ans = s.answer
    assert ans is not None and "".join(pieces).strip() == ans.text
    assert ans.usage.reasoning_tokens > 0 and ans.usage.prompt_tokens > 0   # from the final usage chunk
    assert llm.requests()[0]["body"]["stream_options"] == {"include_usage": True}
    assert 0 < ans.timings["first_token_ms"] <= ans.timings["total_ms"]


def test_exhausted_reasoning_budget_is_a_clear_error(pipeline, llm) -> None:
    llm.script([{"finish": "length"}])
    with pytest.raises(ReasoningBudgetExhausted, match="max_completion_tokens") as err:
        ask(pipeline, llm_model="o3-mini", max_completion_tokens=500)
    assert err.value.usage.reasoning_tokens == 500           # what was billed is still reported
    assert len(llm.requests()) == 1                          # not retried: it would fail the same way


def test_429_is_retried_after_retry_after(pipeline, llm) -> None:
    llm.script([{"status": 429, "retry_after": "0.4"}])
    t0 = time.perf_counter()
    ans = ask(pipeline)
    assert time.perf_counter() - t0 >= 0.4
    assert ans.attempts == 2 and len(llm.requests()) == 2


def test_5xx_is_retried_with_backoff_then_gives_up(pipeline, llm, caplog) -> None:
    llm.script([{"status": 500}, {"status": 503}])
    with caplog.at_level(logging.WARNING):
        assert ask(pipeline).attempts == 3
    assert "retry 1/3" in caplog.text and API_KEY not in caplog.text
    llm.script([{"status": 500}] * 5)
    with pytest.raises(LLMUnavailable, match="500"):
        ask(pipeline, llm_max_retries=2)
    assert len(llm.requests()) == 3


def test_long_retry_after_is_not_waited_for(pipeline, llm) -> None:
    llm.script([{"status": 429, "retry_after": "120"}])
    t0 = time.perf_counter()
    with pytest.raises(LLMRateLimited) as err:
        ask(pipeline, llm_retry_max_wait=5)
    assert time.perf_counter() - t0 < 5 and err.value.retry_after == pytest.approx(120)
    assert err.value.status == 429


def test_bad_key_is_named_not_retried_and_not_echoed(pipeline, llm) -> None:
    wrong = "sk-wrong-key-that-must-not-leak-42"
    with pytest.raises(LLMAuthError, match="refused the API key") as err:
        ask(pipeline, llm_api_key=wrong)
    assert wrong not in str(err.value) and len(llm.requests()) == 1


def test_unknown_model_is_named(pipeline, llm) -> None:
    with pytest.raises(LLMNotFound, match="'gpt-17'"):
        ask(pipeline, llm_model="gpt-17")
    assert len(llm.requests()) == 1


def test_rejected_parameter_is_named_and_not_retried(pipeline, llm) -> None:
    # a wrong override makes us send temperature to a reasoning model: the 400 names it
    with pytest.raises(LLMBadRequest, match="temperature"):
        ask(pipeline, llm_model="o3-mini", temperature=0.5, llm_model_spec={"sampling": True})
    assert len(llm.requests()) == 1


def test_timeout(pipeline, llm) -> None:
    llm.script([{"delay": 3}])
    t0 = time.perf_counter()
    with pytest.raises(LLMTimeout, match="did not answer within 0.5 s"):
        ask(pipeline, llm_timeout=0.5, llm_max_retries=0)
    assert time.perf_counter() - t0 < 2.5


def test_connection_refused_is_unavailable(pipeline, embedder) -> None:
    from tests.conftest import free_port

    with pytest.raises(LLMUnavailable, match="cannot reach"):
        ask(pipeline, llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_max_retries=1)


def test_azure_openai_deployment(pipeline, llm) -> None:
    ans = ask(pipeline, llm_base_url=llm.root, llm_model="my-o3-deployment", llm_model_family="o3-mini",
              llm_api_version="2025-04-01-preview")
    (req,) = llm.requests()
    assert req["path"] == "/openai/deployments/my-o3-deployment/chat/completions"
    assert "api-version=2025-04-01-preview" in req["query"] and req["headers"]["api-key"] == API_KEY
    assert "max_completion_tokens" in req["body"] and [m["role"] for m in req["body"]["messages"]][0] == "developer"
    assert ans.text


def test_empty_context_calls_no_model(pipeline, llm) -> None:
    ans = pipeline.answer(QUESTION, passages=[], allow_empty=True)
    assert ans.text.startswith("The context does not contain") and ans.citations == []
    assert llm.requests() == [] and ans.usage.completion_tokens == 0


def test_auto_answerer_is_extractive_without_an_endpoint(embedder) -> None:
    p = Pipeline(Settings(store_path="/nonexistent"), embedder=embedder)
    ans = p.answer(QUESTION, passages=PASSAGES)
    assert ans.answerer == "extractive" and "max_completion_tokens" in ans.text
    assert ans.citations and ans.citations[0].id == "budget"


def test_llm_reranker_grades_in_batches_and_counts_its_tokens(pipeline, llm) -> None:
    passages = PASSAGES + [{"id": f"noise{i}", "text": f"Tide pools hold anemones and crabs, note {i}."}
                           for i in range(5)]
    ranked = pipeline.search(QUESTION, k=7, passages=passages, reranker="llm", llm_rerank_depth=5,
                             llm_rerank_batch=2, llm_model="o3-mini")
    reqs = llm.requests()
    assert len(reqs) == 3                                          # 5 graded, 2 per request
    assert all(len(r["body"]["messages"]) == 2 and r["body"]["messages"][0]["role"] == "developer" for r in reqs)
    assert ranked[0].id == "budget" and ranked[0].score > 0.9      # graded 3 -> calibrated near 1
    assert all(0.0 <= c.score <= 1.0 for c in ranked)
    ctx = pipeline.retrieve(QUESTION, passages=passages, reranker="llm", llm_rerank_depth=5, llm_rerank_batch=2,
                            llm_model="o3-mini")
    calls = ctx.trace.calls
    assert len(calls) == 3 and all(c.stage == "rerank" and c.prompt_tokens > 0 for c in calls)
    assert sum(c.reasoning_tokens for c in calls) > 0 and ctx.trace.cost > 0
    ans = pipeline.answer(QUESTION, passages=passages, reranker="llm", llm_model="o3-mini")
    assert ans.to_dict()["total_cost"] == pytest.approx(ans.cost + ans.trace.cost)


def test_llm_reranker_needs_an_endpoint(embedder) -> None:
    p = Pipeline(Settings(store_path="/nonexistent", answerer="extractive"), embedder=embedder)
    with pytest.raises(ValueError, match="llm reranker needs a model endpoint"):
        p.retrieve(QUESTION, passages=PASSAGES, reranker="llm")


def test_abstains_without_a_model_call_when_nothing_is_relevant(pipeline, llm) -> None:
    off_topic = ["Sourdough needs a starter of flour and water.", "Quokkas live on Rottnest Island."]
    ans = pipeline.answer(QUESTION, passages=off_topic, abstain_below=0.2)
    assert ans.abstained and ans.trace.abstained and ans.finish_reason == "abstained"
    assert llm.requests() == [] and ans.usage.prompt_tokens == 0 and ans.cost == 0
    assert ans.to_dict()["abstained"] is True and any("abstain_below" in w for w in ans.trace.warnings)
    called = pipeline.answer(QUESTION, passages=off_topic, abstain_below=None)  # the caller asks to call anyway
    assert not called.abstained and len(llm.requests()) == 1
    relevant = ask(pipeline, abstain_below=0.2)
    assert not relevant.abstained and relevant.citations
