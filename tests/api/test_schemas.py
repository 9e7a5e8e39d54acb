"""Request bodies of the HTTP API (rag/api/schemas.py): what is accepted, and what is refused by name."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from rag.api.schemas import ChatRequest, IngestRequest, PassageIn, RetrieveRequest


def test_passages_may_be_objects_or_plain_strings() -> None:
    r = RetrieveRequest(question="q?", passages=["plain text", {"text": "object text", "title": "T"}])
    assert r.passages is not None and r.passages[0] == "plain text"
    assert isinstance(r.passages[1], PassageIn) and r.passages[1].title == "T"


@pytest.mark.parametrize(("body", "field"), [
    ({"question": ""}, "question"),
    ({"question": "q?", "overides": {}}, "overides"),  # a misspelt field is refused, not ignored
    ({"question": "q?", "passages": [""]}, "passages"),
    ({"question": "q?", "passages": [{"text": "t", "colour": "red"}]}, "colour"),
    ({"question": "q?", "passages": ["t"] * 201}, "passages"),
])
def test_a_bad_retrieve_body_names_the_field(body: dict, field: str) -> None:
    with pytest.raises(ValidationError) as e:
        RetrieveRequest(**body)
    assert any(field in map(str, err["loc"]) for err in e.value.errors())


def test_chat_requests_keep_openai_fields_but_need_a_model_and_messages() -> None:
    r = ChatRequest(model="leanrag", messages=[{"role": "user", "content": "hi"}], temperature=0.2)
    assert r.model_extra == {"temperature": 0.2}  # accepted, left to the settings
    with pytest.raises(ValidationError):
        ChatRequest(model="leanrag", messages=[])
    with pytest.raises(ValidationError):
        ChatRequest(model="leanrag", messages=[{"role": "robot", "content": "hi"}])


def test_ingest_needs_documents_with_ids_and_text() -> None:
    assert IngestRequest(documents=[{"id": "a", "text": "x"}]).documents[0].title == ""
    for bad in ({"documents": []}, {"documents": [{"id": "", "text": "x"}]}, {"documents": [{"id": "a"}]}):
        with pytest.raises(ValidationError):
            IngestRequest(**bad)
