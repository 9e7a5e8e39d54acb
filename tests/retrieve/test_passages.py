"""Caller-supplied passages as candidates: strings or objects, ids kept, blanks dropped, mistakes named."""
from __future__ import annotations

import pytest

from rag.errors import InputError
from rag.retrieve.passages import to_candidates


def test_strings_and_objects_become_candidates_with_their_fields() -> None:
    got = to_candidates(["Plain text.", {"id": "x", "text": "With an id.", "title": "T", "source": "s.md",
                                         "doc_id": "d"}, "   ", {"text": "No id."}])
    assert [c.id for c in got] == ["p0", "x", "p3"]  # the blank one is dropped, the others keep their place
    x = got[1]
    assert (x.text, x.title, x.source, x.doc_id, x.start, x.end) == ("With an id.", "T", "s.md", "d", 0, 11)
    assert got[0].doc_id == "p0" and got[0].title == "" and got[0].source == ""


@pytest.mark.parametrize(("passages", "why"), [
    ([{"id": "a", "text": "one"}, {"id": "a", "text": "two"}], "passage 1: duplicate id 'a'"),
    ([{"title": "no text"}], "passage 0: expected a string or an object with a 'text' string"),
    ([42], "passage 0"),
    ([{"text": 3}], "passage 0"),
])
def test_mistakes_name_the_passage(passages: list, why: str) -> None:
    with pytest.raises(InputError, match=why):
        to_candidates(passages)
