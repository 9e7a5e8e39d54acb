"""A store row read back: token counts survive Chroma's scalar metadata, and an older row without them
reads as None rather than failing."""
from __future__ import annotations

from rag.index.records import SourceState, counts_meta, counts_of, stored_chunk
from rag.types import TokenCounts


def test_token_counts_round_trip_through_scalar_metadata() -> None:
    counts = TokenCounts("o200k_base", 42, (10, 20, 12))
    meta = counts_meta(counts)
    assert all(isinstance(v, (str, int)) for v in meta.values())
    assert counts_of(meta) == counts
    assert counts_of(counts_meta(TokenCounts("o200k_base", 0, ()))) == TokenCounts("o200k_base", 0, ())


def test_rows_without_counts_or_with_garbled_ones_read_as_none() -> None:
    assert counts_of({}) is None
    assert counts_of({"tokenizer": "x", "context_tokens": "many", "sentence_tokens": "1"}) is None
    chunk = stored_chunk("c1", {"doc_id": "d", "source": "/a.md", "start": "3", "end": 9}, None)
    assert (chunk.text, chunk.start, chunk.end, chunk.counts) == ("", 3, 9, None)
    cand = chunk.candidate({"fused": 0.5, "dense": 0.7})
    assert cand.score == 0.5 and cand.scores["dense"] == 0.7 and cand.source == "/a.md"


def test_a_source_is_complete_only_with_one_fingerprint_and_every_chunk() -> None:
    state = SourceState({"a", "b"}, {"f1"}, expected=2)
    assert state.complete("f1") and not state.complete("f2")
    assert not SourceState({"a"}, {"f1"}, expected=2).complete("f1")
    assert not SourceState({"a", "b"}, {"f1", "f0"}, expected=2).complete("f1")
