"""Text views every stage shares: sentence spans, lexical terms, the embedded text, names a context lacks."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.memo import keeping, memo_bytes
from rag.text import embed_text, sentence_spans, term_tuple, terms, unmentioned_names


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("ab .!?\n\"')(") + ["Dr.", "U.S.", "e.g.", "Quokka"]), max_size=80).map("".join))
def test_sentence_spans_are_ordered_disjoint_and_inside_the_text(text: str) -> None:
    spans = sentence_spans(text)
    for (_, b), (c, _) in zip(spans, spans[1:], strict=False):
        assert b <= c
    for a, b in spans:
        assert 0 <= a < b <= len(text) and text[a:b].strip()
    kept = "".join(text[a:b] for a, b in spans)
    assert "".join(kept.split()) == "".join(text.split())  # no non-space character is lost


def test_sentences_split_at_ends_not_at_abbreviations() -> None:
    text = "Dr. Smith met Mr. Jones in the U.S. capital. They talked. Did it help?"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Dr. Smith met Mr. Jones in the U.S. capital.", "They talked.", "Did it help?"]


def test_terms_are_stemmed_lower_case_and_drop_stop_words() -> None:
    assert terms("The Quokkas were hopping") == ["quokka", "hop"]
    assert terms("") == [] and terms("the of and") == []
    assert term_tuple("Quokkas hop") == tuple(terms("Quokkas hop"))


def test_embedded_text_carries_the_title_once() -> None:
    assert embed_text("", "Quokkas hop.") == "Quokkas hop."
    assert embed_text("Marsupials", "Quokkas hop.") == "Marsupials\nQuokkas hop."
    assert embed_text("Quokka", "# Quokka facts. Quokkas hop.") == "# Quokka facts. Quokkas hop."  # not twice


def test_names_a_context_never_mentions() -> None:
    question = "When did Ada Lovelace meet Charles Babbage?"
    assert unmentioned_names(question, "Ada Lovelace met Charles Babbage in 1833.") == []
    missing = unmentioned_names(question, "Ada Lovelace wrote notes on the engine.")
    assert missing and all("babbage" in m.lower() or "charles" in m.lower() for m in missing)


def test_terms_computed_while_not_keeping_are_the_same_and_kept_nowhere() -> None:
    rng = random.Random(3)
    words = ["".join(rng.choices("abcdefghij", k=7)) for _ in range(30)]
    text = " ".join(words)
    before = memo_bytes()
    with keeping(False):
        unkept = term_tuple(text)
    assert memo_bytes() == before
    assert term_tuple(text) == unkept and memo_bytes() > before
