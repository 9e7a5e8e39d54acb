from __future__ import annotations

import pytest

from rag.ingest.split import Splitter, chunk_id, markdown_sections
from rag.text import embed_text, sentence_spans
from rag.types import Document


@pytest.fixture(scope="module")
def splitter(embedder) -> Splitter:
    return Splitter(embedder.count_tokens, chunk_size=64, chunk_overlap=8, max_tokens=embedder.max_tokens)


def _long_text(n: int) -> str:
    return " ".join(f"Sentence number {i} talks about retrieval, pruning and token budgets." for i in range(n))


def test_chunks_respect_token_limit_and_offsets(splitter: Splitter, embedder) -> None:
    doc = Document("d", "src.txt", "A title", _long_text(60))
    chunks = splitter.split(doc)
    assert len(chunks) > 5
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        assert c.tokens == embedder.count_tokens(c.text) <= 64
        assert embedder.count_tokens(embed_text(c.title, c.text)) <= embedder.max_tokens
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks == splitter.split(doc)  # deterministic: same ids on a second run


def test_never_exceeds_model_limit_even_with_huge_chunk_size(embedder) -> None:
    s = Splitter(embedder.count_tokens, chunk_size=10_000, chunk_overlap=0, max_tokens=embedder.max_tokens)
    doc = Document("d", "src.txt", "A rather long title " * 5, _long_text(80))
    for c in s.split(doc):
        assert embedder.count_tokens(embed_text(c.title, c.text)) <= embedder.max_tokens


def test_text_without_separators_is_still_cut(splitter: Splitter) -> None:
    doc = Document("d", "s", "", "x" * 3000)
    chunks = splitter.split(doc)
    assert "".join(c.text for c in chunks) == doc.text
    assert all(c.tokens <= 64 for c in chunks)


def test_markdown_is_split_on_headers_first(splitter: Splitter) -> None:
    text = "# Guide\n\nIntro line.\n\n## Install\n\nRun make.\n\n## Usage\n\nAsk questions.\n"
    doc = Document("g.md", "g.md", "Guide", text, "markdown")
    chunks = splitter.split(doc)
    assert [c.text.split("\n")[0] for c in chunks] == ["# Guide", "## Install", "## Usage"]
    assert [c.title for c in chunks] == ["Guide", "Guide > Install", "Guide > Usage"]
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert [s[1] for s in markdown_sections(text)] == ["Guide", "Install", "Usage"]


def test_chunk_ids_depend_on_content_document_and_position() -> None:
    a = chunk_id("doc", 0, 0, "text")
    assert a == chunk_id("doc", 0, 0, "text")
    assert len({a, chunk_id("doc2", 0, 0, "text"), chunk_id("doc", 1, 0, "text"),
                chunk_id("doc", 0, 5, "text"), chunk_id("doc", 0, 0, "text!")}) == 5


def test_a_sentence_goes_on_after_an_abbreviation_closed_by_a_bracket_or_quote() -> None:
    """A lower-case word after "r.l.)" or 'go."' continues the sentence; a capital after a full stop starts one."""
    text = ('A GmbH is common in Switzerland (where it is a S.à r.l.) and Liechtenstein. He said "go." then '
            "left. Approx. ten came. Then none.")
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "A GmbH is common in Switzerland (where it is a S.à r.l.) and Liechtenstein.",
        'He said "go." then left.', "Approx. ten came.", "Then none."]
