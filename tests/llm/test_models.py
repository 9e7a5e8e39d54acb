"""The model table: each family's parameters and output ceiling, safe defaults, overrides, prices
(rag/llm/models.py)."""
from __future__ import annotations

import pytest

from rag.llm.models import DEFAULT, model_spec


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
