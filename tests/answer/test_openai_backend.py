"""The openai answerer against the local OpenAI-compatible test server: real HTTP, real client."""
from __future__ import annotations

import pytest

from rag import Pipeline, Settings
from rag.answer.prompt import INSTRUCTIONS
from tests.fake_openai import API_KEY
from tests.openai_case import PASSAGES, QUESTION, ask


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
def test_each_family_gets_exactly_the_parameters_it_accepts(openai_pipeline, llm, model, roles, token_param, sent,
                                                            absent) -> None:
    ans = ask(openai_pipeline, llm_model=model, reasoning_effort="low", temperature=0.2)
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


def test_reasoning_and_cached_tokens_and_cost_are_accounted(openai_pipeline, llm) -> None:
    llm.script([{"cached": 128}])
    ans = ask(openai_pipeline, llm_model="gpt-5-mini")
    u = ans.usage
    assert u.reasoning_source == "usage" and u.reasoning_tokens > u.prompt_tokens // 2 - 1
    assert u.cached_tokens == 128
    assert u.completion_tokens == u.reasoning_tokens + u.answer_tokens
    expected = ((u.prompt_tokens - 128) * 0.25 + 128 * 0.025 + u.completion_tokens * 2.0) / 1e6
    assert ans.cost == pytest.approx(expected, rel=1e-6)
    assert ans.finish_reason == "stop" and ans.attempts == 1
    assert set(ans.timings) == {"retrieve_ms", "first_token_ms", "answer_ms", "total_ms"}
    assert ans.timings["total_ms"] >= ans.timings["retrieve_ms"] + ans.timings["answer_ms"] - 1


def test_price_table_is_overridable_in_settings(openai_pipeline, llm) -> None:
    ans = ask(openai_pipeline, llm_model="gpt-5-mini", llm_prices={"gpt-5-mini": (1.0, 1.0, 1.0)})
    assert ans.cost == pytest.approx((ans.usage.prompt_tokens + ans.usage.completion_tokens) / 1e6)


def test_reasoning_content_is_kept_apart_and_counted(openai_pipeline, llm) -> None:
    ans = ask(openai_pipeline, llm_model="deepseek-reasoner")
    assert ans.reasoning and "Passage 1" in ans.reasoning
    assert "Passage 1 says" not in ans.text
    assert ans.usage.reasoning_source == "counted" and ans.usage.reasoning_tokens > 5


@pytest.mark.parametrize("stream", [False, True])
def test_think_blocks_never_reach_the_answer(openai_pipeline, llm, stream) -> None:
    model = "deepseek-r1-distill-qwen-7b"
    if stream:
        s = openai_pipeline.answer(QUESTION, passages=PASSAGES, llm_model=model, stream=True)
        pieces = list(s)
        ans = s.answer
        assert "".join(pieces).strip() == ans.text
    else:
        ans = ask(openai_pipeline, llm_model=model)
    assert "<think>" not in ans.text and "</think>" not in ans.text and "think>" not in ans.text
    assert ans.reasoning == "Let me look at the passages. Passage 1 says what is asked."
    assert ans.usage.reasoning_source == "counted"


def test_streaming_yields_text_as_it_arrives_and_usage_at_the_end(openai_pipeline, llm) -> None:
    s = openai_pipeline.answer(QUESTION, passages=PASSAGES, llm_model="gpt-5-mini", stream=True)
    assert s.answer is None
    pieces = list(s)
    assert len(pieces) > 3                                    # several chunks, not one blob
    ans = s.answer
    assert ans is not None and "".join(pieces).strip() == ans.text
    assert ans.usage.reasoning_tokens > 0 and ans.usage.prompt_tokens > 0   # from the final usage chunk
    assert llm.requests()[0]["body"]["stream_options"] == {"include_usage": True}
    assert 0 < ans.timings["first_token_ms"] <= ans.timings["total_ms"]


def test_empty_context_calls_no_model(openai_pipeline, llm) -> None:
    ans = openai_pipeline.answer(QUESTION, passages=[], allow_empty=True)
    assert ans.text.startswith("The context does not contain") and ans.citations == []
    assert llm.requests() == [] and ans.usage.completion_tokens == 0


def test_auto_answerer_is_extractive_without_an_endpoint(embedder) -> None:
    p = Pipeline(Settings(store_path="/nonexistent"), embedder=embedder)
    ans = p.answer(QUESTION, passages=PASSAGES)
    assert ans.answerer == "extractive" and "max_completion_tokens" in ans.text
    assert ans.citations and ans.citations[0].id == "budget"


def test_abstains_without_a_model_call_when_nothing_is_relevant(openai_pipeline, llm) -> None:
    off_topic = ["Sourdough needs a starter of flour and water.", "Quokkas live on Rottnest Island."]
    ans = openai_pipeline.answer(QUESTION, passages=off_topic, abstain_below=0.2)
    assert ans.abstained and ans.trace.abstained and ans.finish_reason == "abstained"
    assert llm.requests() == [] and ans.usage.prompt_tokens == 0 and ans.cost == 0
    assert ans.to_dict()["abstained"] is True and any("abstain_below" in w for w in ans.trace.warnings)
    called = openai_pipeline.answer(QUESTION, passages=off_topic, abstain_below=None)  # the caller asks to call anyway
    assert not called.abstained and len(llm.requests()) == 1
    relevant = ask(openai_pipeline, abstain_below=0.2)
    assert not relevant.abstained and relevant.citations
