"""Metadata filters are checked before Chroma sees them: what its engine fails on is the caller's mistake."""
from __future__ import annotations

import pytest

from rag.errors import InputError
from rag.retrieve.filters import MAX_FILTER_DEPTH, check_filter


@pytest.mark.parametrize("where", [{"doc_id": "d1"}, {"source": {"$in": ["a.md", "b.md"]}},
                                   {"$and": [{"doc_id": "d1"}, {"$or": [{"year": {"$gte": 2020}}, {"x": 1}]}]}])
def test_filters_chroma_accepts_pass(where: dict) -> None:
    check_filter(where)


def nested(depth: int) -> dict:
    where: dict = {"doc_id": "d"}
    for _ in range(depth):
        where = {"$and": [where, {"doc_id": "d"}]}
    return where


@pytest.mark.parametrize(("where", "why"), [
    ({"$foo": 1}, "'\\$foo' is not a field name"),
    (nested(MAX_FILTER_DEPTH + 1), f"deeper than {MAX_FILTER_DEPTH}"),
    ({"doc_id": {"$near": 3}}, "filters: "),
    ({"$and": "not a list"}, "filters: "),
])
def test_filters_it_would_fail_on_name_the_field(where: dict, why: str) -> None:
    with pytest.raises(InputError, match=why):
        check_filter(where)
    check_filter(nested(MAX_FILTER_DEPTH))  # as deep as allowed
