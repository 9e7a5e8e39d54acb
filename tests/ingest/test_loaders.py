from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.ingest.loaders import LoadError, discover, load_file, read_text


def _pdf(path: Path, text: str) -> None:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    c.drawString(72, 720, text)
    c.save()


def test_text_markdown_and_encodings(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Plain text about chunking.")
    (tmp_path / "b.md").write_text("# The Title\n\nBody.")
    french = ("Le café est très chaud. La crème brûlée est délicieuse, et la façade de l'hôtel "
              "est élégante. Où est la bibliothèque? Noël approche, les élèves préparent la fête. ") * 3
    (tmp_path / "latin.txt").write_bytes(french.encode("latin-1"))
    (tmp_path / "utf16.txt").write_bytes("Grüße aus Köln, ein längerer Satz zum Erkennen.".encode("utf-16"))
    docs, _ = load_file(tmp_path / "a.txt")
    assert docs[0].text == "Plain text about chunking." and docs[0].title == "a"
    docs, _ = load_file(tmp_path / "b.md")
    assert docs[0].title == "The Title" and docs[0].kind == "markdown"
    assert "crème brûlée est délicieuse" in load_file(tmp_path / "latin.txt")[0][0].text
    assert "Grüße aus Köln" in load_file(tmp_path / "utf16.txt")[0][0].text


def test_html_keeps_only_visible_text(tmp_path: Path) -> None:
    (tmp_path / "p.html").write_text(
        "<html><head><title>T</title><style>.x{}</style><script>var secret=1;</script></head>"
        "<body><h1>Head</h1><p>Visible words.</p><p hidden>Hidden words.</p>"
        "<noscript>No script words.</noscript></body></html>")
    doc = load_file(tmp_path / "p.html")[0][0]
    assert doc.title == "T"
    assert "Visible words." in doc.text and "Head" in doc.text
    for gone in ("secret", "Hidden words", "No script", ".x{}"):
        assert gone not in doc.text


def test_pdf_text_layer_and_broken_pdf(tmp_path: Path) -> None:
    _pdf(tmp_path / "ok.pdf", "Reasoning tokens are billed as output.")
    assert "billed as output" in load_file(tmp_path / "ok.pdf")[0][0].text
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4\n garbage without any objects")
    with pytest.raises(LoadError, match="PDF"):
        load_file(tmp_path / "bad.pdf")
    (tmp_path / "fake.pdf").write_text("not a pdf at all")
    with pytest.raises(LoadError, match="not a PDF"):
        load_file(tmp_path / "fake.pdf")


def test_beir_jsonl_reports_bad_lines_and_keeps_good_ones(tmp_path: Path) -> None:
    lines = [json.dumps({"_id": "d1", "title": "T1", "text": "first"}), "{not json",
             json.dumps({"title": "no id"}), json.dumps({"_id": "d2", "title": "", "text": "second"}),
             json.dumps({"_id": "d1", "text": "dup"})]
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n")
    docs, bad = load_file(tmp_path / "c.jsonl")
    assert [d.id for d in docs] == ["d1", "d2"] and docs[0].title == "T1"
    assert [b.path.rsplit(":", 1)[1] for b in bad] == ["2", "3", "5"]
    assert "invalid JSON" in bad[0].reason and "duplicate" in bad[2].reason
    (tmp_path / "q.jsonl").write_text(json.dumps({"question": "x"}) + "\n")
    with pytest.raises(LoadError, match="BEIR"):
        load_file(tmp_path / "q.jsonl")


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("empty.txt", b"", "empty"),
    ("blank.md", b"  \n\n ", "empty"),
    ("bin.txt", b"\x7fELF\x02\x01\x00\x00\x00binary", "binary"),
    ("blank.html", b"<html><script>x()</script></html>", "no visible text"),
])
def test_bad_files_raise_with_a_reason(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load_file(tmp_path / name)


def test_unreadable_path_is_reported(tmp_path: Path) -> None:
    (tmp_path / "dir.txt").mkdir()
    with pytest.raises(LoadError, match="cannot read"):
        read_text(tmp_path / "dir.txt")


def test_discover_recurses_excludes_and_reports_missing(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "x.md").write_text("x")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "questions.jsonl").write_text("{}")
    (tmp_path / ".hidden.md").write_text("h")
    (tmp_path / "img.png").write_bytes(b"\x89PNG")
    files, skipped = discover([tmp_path, tmp_path / "missing.md", tmp_path / "img.png"],
                              exclude=["questions.jsonl"])
    assert [f.name for f in files] == ["a.txt", "x.md"]
    assert {Path(s.path).name: s.reason for s in skipped} == {
        "missing.md": "no such file or folder", "img.png": "unsupported file type '.png'"}


def test_inline_data_is_left_out_with_a_note(tmp_path: Path) -> None:
    """A Markdown file with a 2 MB base64 image once ran 15 minutes into 2,304 chunks."""
    import base64
    import random

    blob = base64.b64encode(random.Random(1).randbytes(1_500_000)).decode()
    md = f"# Logo\nOur logo, inline:\n\n![logo](data:image/png;base64,{blob})\n\nThe end.\n"
    (tmp_path / "img.md").write_text(md)
    docs, notes = load_file(tmp_path / "img.md")
    assert len(docs[0].text) < 200 and "Our logo" in docs[0].text and "The end." in docs[0].text
    assert len(notes) == 1 and "1 run(s)" in notes[0].reason and notes[0].path.endswith("img.md:long-runs")
    (tmp_path / "url.md").write_text("See https://example.org/" + "a" * 500 + " for more.\n")
    assert "a" * 500 in load_file(tmp_path / "url.md")[0][0].text  # a long URL is no inline data
