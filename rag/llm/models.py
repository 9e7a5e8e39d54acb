"""What each model accepts, and what it costs. Never send a parameter the model rejects.

The table is matched by the longest prefix of the model name (``o3-mini-2025-01-31`` -> ``o3-mini``).
Deployments with names of their own (Azure) name their family with ``llm_model_family``; any field can be
overridden with ``llm_model_spec`` in settings.

Example:
    >>> spec = model_spec("o1-mini-2024-09-12")
    >>> spec.instructions_role, spec.token_param, spec.max_output
    ('user', 'max_completion_tokens', 65536)
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from rag.errors import InputError

Role = Literal["system", "developer", "user"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    # Where the answering instructions go: o1-preview/o1-mini take user and assistant messages only, and
    # DeepSeek advises putting every instruction of R1 in the user turn.
    instructions_role: Role = "system"
    token_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    reasoning: bool = False           # thinks before answering (hidden or visible)
    reasoning_effort: bool = False    # accepts reasoning_effort
    sampling: bool = False            # accepts temperature / top_p
    max_output: int = 4096            # the model's output-token ceiling (reasoning included)
    stream_usage: bool = True         # accepts stream_options={"include_usage": true}
    open_reasoning: bool = False      # returns its reasoning (reasoning_content or <think> blocks)
    # USD per million tokens: input, cached input, output (reasoning is billed as output).
    price_input: float = 0.0
    price_cached: float = 0.0
    price_output: float = 0.0

    def cost(self, prompt: int, cached: int, completion: int) -> float:
        return ((prompt - cached) * self.price_input + cached * self.price_cached
                + completion * self.price_output) / 1_000_000


def _openai_reasoning(name: str, max_output: int, prices: tuple[float, float, float], *,
                      role: Role = "developer", effort: bool = True) -> ModelSpec:
    return ModelSpec(name, instructions_role=role, token_param="max_completion_tokens", reasoning=True,
                     reasoning_effort=effort, max_output=max_output, **_prices(prices))


def _chat(name: str, max_output: int, prices: tuple[float, float, float] = (0, 0, 0), **kw: Any) -> ModelSpec:
    return ModelSpec(name, sampling=True, max_output=max_output, **_prices(prices), **kw)


def _open_reasoning(name: str, max_output: int, prices: tuple[float, float, float] = (0, 0, 0),
                    **kw: Any) -> ModelSpec:
    # Instructions go in the user turn, as DeepSeek advises for R1.
    return ModelSpec(name, instructions_role="user", reasoning=True, open_reasoning=True,
                     max_output=max_output, **_prices(prices), **kw)


def _prices(p: tuple[float, float, float]) -> dict[str, Any]:
    return {"price_input": p[0], "price_cached": p[1], "price_output": p[2]}


MODELS: dict[str, ModelSpec] = {m.name: m for m in [
    # OpenAI reasoning models (published prices, USD / 1M tokens: input, cached input, output)
    _openai_reasoning("o1-preview", 32_768, (15.0, 7.5, 60.0), role="user", effort=False),
    _openai_reasoning("o1-mini", 65_536, (1.10, 0.55, 4.40), role="user", effort=False),
    _openai_reasoning("o1", 100_000, (15.0, 7.5, 60.0)),
    _openai_reasoning("o1-pro", 100_000, (150.0, 150.0, 600.0)),
    _openai_reasoning("o3-mini", 100_000, (1.10, 0.55, 4.40)),
    _openai_reasoning("o3", 100_000, (2.0, 0.50, 8.0)),
    _openai_reasoning("o4-mini", 100_000, (1.10, 0.275, 4.40)),
    _openai_reasoning("gpt-5", 128_000, (1.25, 0.125, 10.0)),
    _openai_reasoning("gpt-5-mini", 128_000, (0.25, 0.025, 2.0)),
    _openai_reasoning("gpt-5-nano", 128_000, (0.05, 0.005, 0.40)),
    # Ordinary chat models: a fast model on the same lean context is one of the toggles users measure.
    _chat("gpt-4o", 16_384, (2.50, 1.25, 10.0)),
    _chat("gpt-4o-mini", 16_384, (0.15, 0.075, 0.60)),
    _chat("gpt-4.1", 32_768, (2.0, 0.50, 8.0)),
    _chat("gpt-4.1-mini", 32_768, (0.40, 0.10, 1.60)),
    _chat("gpt-4.1-nano", 32_768, (0.10, 0.025, 0.40)),
    _chat("deepseek-chat", 8_192, (0.27, 0.07, 1.10)),
    # DeepSeek's API returns reasoning_content and ignores sampling parameters; open R1-style models
    # (vLLM, Ollama, llama.cpp) return reasoning_content or <think> blocks.
    _open_reasoning("deepseek-reasoner", 65_536, (0.55, 0.14, 2.19)),
    _open_reasoning("deepseek-r1", 32_768, sampling=True),
    _open_reasoning("qwq", 32_768, sampling=True),
    # The local reader served by llama.cpp (`rag llm serve`): small context, free.
    _chat("smollm2", 2_048),
]}

# Unknown models: the parameters every OpenAI-compatible server takes, and nothing else.
DEFAULT = ModelSpec("default", "system", "max_tokens", False, False, False, 4_096)


def model_spec(model: str, *, family: str | None = None, overrides: dict[str, Any] | None = None) -> ModelSpec:
    """The table entry for ``model`` (or ``family``), with ``overrides`` applied."""
    key = (family or model).lower().rsplit("/", 1)[-1]  # "deepseek-ai/DeepSeek-R1" -> "deepseek-r1"
    match = max((n for n in MODELS if key == n or key.startswith(n + "-") or key.startswith(n + ":")
                 or key.startswith(n + ".")), key=len, default=None)
    if match is None:  # open models are often named "<org>-deepseek-r1-distill-..." or "qwq-32b"
        match = next((n for n in ("deepseek-r1", "qwq", "smollm2") if n in key), None)
    spec = MODELS[match] if match else DEFAULT
    if overrides:
        known = {f.name for f in fields(ModelSpec)}
        unknown = set(overrides) - known
        if unknown:
            raise InputError(f"llm_model_spec: unknown field(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(known - {'name'}))}")
        spec = replace(spec, **overrides)
    return spec
