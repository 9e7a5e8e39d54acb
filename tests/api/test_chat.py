"""The OpenAI-compatible face's pieces (rag/api/chat.py): which message is the question, which request
fields become settings, and the completion's shape (the HTTP round trip is in test_app.py)."""
from __future__ import annotations

import pytest
from fastapi import HTTPException

from rag.api.chat import chat_overrides, completion, last_user_text
from rag.api.schemas import ChatRequest
from rag.types import Answer, Citation, Context, Trace, Usage


def _req(messages: list[dict], **extra: object) -> ChatRequest:
    return ChatRequest(model="leanrag", messages=messages, **extra)


def test_the_last_user_message_is_the_question_in_either_content_form() -> None:
    assert last_user_text(_req([{"role": "user", "content": "old"}, {"role": "assistant", "content": "a"},
                                {"role": "user", "content": "new?"}])) == "new?"
    parts = [{"type": "text", "text": "Where"}, {"type": "image_url", "image_url": {}},
             {"type": "text", "text": "is it?"}]
    assert last_user_text(_req([{"role": "user", "content": parts}])) == "Where is it?"
    with pytest.raises(HTTPException) as e:
        last_user_text(_req([{"role": "system", "content": "be brief"}]))
    assert e.value.status_code == 422 and "messages" in str(e.value.detail)


def test_budget_effort_and_temperature_become_settings_and_the_rest_is_ignored() -> None:
    assert chat_overrides(_req([{"role": "user", "content": "q"}], max_tokens=50, n=3, logprobs=True)) == {
        "max_completion_tokens": 50}
    both = _req([{"role": "user", "content": "q"}], max_tokens=50, max_completion_tokens=70,
                reasoning_effort="low", temperature=None)
    assert chat_overrides(both) == {"max_completion_tokens": 70, "reasoning_effort": "low"}


def test_a_completion_has_openais_shape_and_usage_details() -> None:
    ctx = Context("q?", [], 42, Trace())
    ans = Answer("q?", "Paris [1].", [Citation(1, "c1", "d1", "a.md", [(0, 5)])], ctx,
                 Usage(prompt_tokens=100, cached_tokens=40, completion_tokens=30, reasoning_tokens=20), 0.01, {},
                 "openai")
    out = completion(ans, "leanrag")
    assert out["object"] == "chat.completion" and out["id"].startswith("chatcmpl-") and out["model"] == "leanrag"
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "Paris [1]."}
    assert out["usage"]["total_tokens"] == 130
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 40}
    assert out["usage"]["completion_tokens_details"] == {"reasoning_tokens": 20}
    assert out["leanrag"]["context_tokens"] == 42 and out["leanrag"]["citations"][0]["id"] == "c1"
