"""`rag retrieve --html FILE`: one self-contained page with the kept sentences highlighted, every drop and
its reason, and every stage; passage text is escaped, never markup."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest

from rag import Pipeline, Settings
from rag.cli import main
from rag.types import Document

pytestmark = pytest.mark.integration


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.marks: list[str] = []
        self.tags: list[str] = []
        self.external: list[str] = []
        self._in_mark = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_mark = tag == "mark"
        self.external += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag: str) -> None:
        self._in_mark = False if tag == "mark" else self._in_mark

    def handle_data(self, data: str) -> None:
        if self._in_mark:
            self.marks.append(data)


def test_html_trace_page(tmp_path, embedder, capsys) -> None:
    store = tmp_path / "store"
    Pipeline(Settings(store_path=store), embedder=embedder).ingest_documents([
        Document(id="q", source="quokka.md", title="Quokkas",
                 text="Quokkas live on Rottnest Island. They eat leaves and grasses. Tourists love them."),
        Document(id="x", source="evil.md", title="Evil", text="<script>alert(1)</script> Bread needs flour."),
        Document(id="y", source="nile.md", title="Nile", text="The Nile flows north.")])
    out = tmp_path / "trace.html"
    assert main(["retrieve", "What do quokkas eat?", "--store", str(store), "--html", str(out)]) == 0
    page = out.read_text()
    parsed = _Page()
    parsed.feed(page)
    assert any("eat leaves and grasses" in m for m in parsed.marks)           # the kept sentence, highlighted
    assert "script" not in parsed.tags and "&lt;script&gt;" in page         # passage text is escaped
    assert not parsed.external                                               # self-contained
    assert 'id=stages' in page and "rerank" in page and "budget" in page
    assert "id=dropped" in page and page.count("<tr class=dropped>") >= 1  # the other passages, with reasons
    assert "trace page written" in capsys.readouterr().err
