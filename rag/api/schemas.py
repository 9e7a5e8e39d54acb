"""Request bodies of the HTTP API. Responses are the library's own ``to_dict()`` shapes."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PassageIn(_Strict):
    text: str = Field(min_length=1, max_length=100_000)
    id: str | None = Field(None, max_length=200)
    source: str | None = Field(None, max_length=1_000)
    title: str | None = Field(None, max_length=1_000)


PassageText = Annotated[str, Field(min_length=1, max_length=100_000)]  # a passage as a plain string


class RetrieveRequest(_Strict):
    question: str = Field(min_length=1, description="the question (length limited by the operator)")
    filters: dict[str, Any] | None = Field(None, description="Chroma metadata filter, e.g. {\"source\": \"...\"}")
    overrides: dict[str, Any] = Field(default_factory=dict, description="per-call settings the operator allows")
    passages: list[PassageIn | PassageText] | None = Field(
        None, max_length=200, description="rerank and prune these instead: objects or plain strings")


class AnswerRequest(RetrieveRequest):
    pass


class TraceRequest(RetrieveRequest):
    """What the /ui page sends: a retrieval, or an answer when ``answer`` is set."""

    answer: bool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat completions request. Sampling and budget fields are accepted and left to settings."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: dict[str, Any] | None = None


class DocumentIn(_Strict):
    id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=2_000_000)
    title: str = Field("", max_length=1_000)
    source: str | None = Field(None, max_length=1_000, description="default api:<id>")


class IngestRequest(_Strict):
    documents: list[DocumentIn] = Field(min_length=1)
