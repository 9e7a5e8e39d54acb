"""Which answerer the settings make (rag/answer/factory.py)."""
from __future__ import annotations

from pydantic import SecretStr

from rag.answer.factory import make_answerer, resolve_answerer
from rag.llm.config import make_endpoint
from rag.settings import Settings
from rag.tokens import count_tokens


def test_auto_is_offline_until_an_endpoint_or_key_is_configured() -> None:
    assert resolve_answerer(Settings()) == "extractive"
    assert resolve_answerer(Settings(llm_api_key=SecretStr("sk-x"))) == "openai"
    assert resolve_answerer(Settings(llm_base_url="http://127.0.0.1:9/v1")) == "openai"
    assert resolve_answerer(Settings(answerer="local", llm_api_key=SecretStr("sk-x"))) == "local"
    assert resolve_answerer(Settings(answerer="extractive", llm_api_key=SecretStr("sk-x"))) == "extractive"


def test_the_answerer_follows_the_kind_and_shares_a_given_endpoint() -> None:
    assert make_answerer(Settings(), count=count_tokens).name == "extractive"
    s = Settings(llm_base_url="http://127.0.0.1:9/v1")
    endpoint = make_endpoint(s, "openai", count=count_tokens)
    shared = make_answerer(s, count=count_tokens, endpoint=endpoint)
    assert shared.name == "openai" and shared.endpoint is endpoint  # type: ignore[attr-defined]
    own = make_answerer(Settings(answerer="local"), count=count_tokens)
    assert own.name == "local" and own.endpoint is not endpoint  # type: ignore[attr-defined]
