"""The model-endpoint layer without a server: the model table and prices, the reasoning split, usage
counting, Retry-After."""
from __future__ import annotations

import email.utils
import random
import time

import pytest

from rag.llm.connection import _retry_after
from rag.llm.models import DEFAULT, model_spec
from rag.llm.usage import ThinkSplitter, usage_from_response
from rag.tokens import count_tokens


@pytest.mark.parametrize(("name", "role", "param", "effort", "sampling", "ceiling"), [
    ("o1-preview", "user", "max_completion_tokens", False, False, 32_768),
    ("o1-mini-2024-09-12", "user", "max_completion_tokens", False, False, 65_536),
    ("o1-2024-12-17", "developer", "max_completion_tokens", True, False, 100_000),
    ("o3-mini", "developer", "max_completion_tokens", True, False, 100_000),
    ("o4-mini-2025-04-16", "developer", "max_completion_tokens", True, False, 100_000),
    ("gpt-5-nano", "developer", "max_completion_tokens", True, False, 128_000),
    ("gpt-4o-mini", "system", "max_tokens", False, True, 16_384),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "user", "max_tokens", False, True, 32_768),
])
def test_model_table(name, role, param, effort, sampling, ceiling) -> None:
    spec = model_spec(name)
    assert (spec.instructions_role, spec.token_param, spec.reasoning_effort, spec.sampling, spec.max_output) == (
        role, param, effort, sampling, ceiling)


def test_unknown_models_get_safe_defaults_and_overrides_apply() -> None:
    assert model_spec("llama-3.1-8b-instruct") == DEFAULT
    assert not DEFAULT.sampling and not DEFAULT.reasoning_effort and DEFAULT.token_param == "max_tokens"
    assert model_spec("my-deployment", family="o3-mini").token_param == "max_completion_tokens"
    assert model_spec("llama3", overrides={"max_output": 8192}).max_output == 8192
    with pytest.raises(ValueError, match="unknown field"):
        model_spec("o3", overrides={"colour": "red"})


def test_cost_uses_cached_price_for_cached_input() -> None:
    spec = model_spec("gpt-5-mini")  # 0.25 / 0.025 / 2.00 per 1M
    assert spec.cost(1_000_000, 400_000, 100_000) == pytest.approx(0.6 * 0.25 + 0.4 * 0.025 + 0.1 * 2.0)


@pytest.mark.parametrize("seed", range(20))
def test_think_splitter_on_any_chunking(seed: int) -> None:
    rng = random.Random(seed)
    text = rng.choice(["<think>plan: read [1]</think>\n\nThe answer is 42 [1].",
                       "  <think>\nhm <b>x</b></think>The answer is 42 [1].",
                       "plan: read [1]</think>The answer is 42 [1]."])  # no opening tag (R1 distills)
    cuts = sorted(rng.sample(range(1, len(text)), rng.randint(0, 8)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    s = ThinkSplitter(orphan_close=True)
    parts = [s.feed(p) for p in pieces] + [s.close()]
    assert "".join(a for _, a in parts).strip() == "The answer is 42 [1]."
    assert "think>" not in "".join(r for r, _ in parts)


def test_plain_answers_stream_without_delay() -> None:
    s = ThinkSplitter()
    assert s.feed("The answer") == ("", "The answer")   # not held back waiting for a tag
    assert s.feed(" </think> is odd") == ("", " </think> is odd")


def test_usage_counts_what_the_endpoint_does_not_report() -> None:
    u = usage_from_response(None, reasoning_text="two words", answer_text="Paris.", count=count_tokens)
    assert u.reasoning_source == "counted" and u.reasoning_tokens == count_tokens("two words")
    assert u.completion_tokens == u.reasoning_tokens + u.answer_tokens


def test_retry_after_forms() -> None:
    class R:
        def __init__(self, headers):
            self.headers = headers

    assert _retry_after(R({"retry-after": "3"})) == 3.0
    assert _retry_after(R({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    date = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= _retry_after(R({"retry-after": date})) <= 10.5
    assert _retry_after(R({"retry-after": "soon"})) is None and _retry_after(R({})) is None
