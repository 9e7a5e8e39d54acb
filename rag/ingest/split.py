"""Documents to Chunks with langchain-text-splitters, lengths in the embedding model's tokens.

Markdown is cut at its headers first. Every chunk records character offsets into its document,
and no chunk (with the title the embedder sees in front of it) exceeds the model's limit.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.types import Chunk, Document

_HEADER = re.compile(r"^#{1,6}[ \t]+\S.*$", re.MULTILINE)


def chunk_id(doc_id: str, index: int, start: int, text: str, source: str = "") -> str:
    """Content-derived id: the same chunk of the same document in the same source always gets the same id.

    A file's documents are named by their path already; a record's (a BEIR line, an API document) is
    named by its own id, which another file may repeat (a copied corpus, overlapping corpora). Such a
    record is qualified by its source, so each source owns its chunks and removing one source never
    removes another's.
    """
    key = doc_id if not source or source == doc_id else f"{source}\x1e{doc_id}"
    h = hashlib.sha256(f"{key}\x1f{index}\x1f{start}\x1f{text}".encode()).hexdigest()
    return h[:32]


def markdown_sections(text: str) -> list[tuple[int, str, str]]:
    """(offset, header line, section text) for each header-led section, preamble included."""
    starts = [m.start() for m in _HEADER.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    out = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(text)
        section = text[s:e]
        first = section.split("\n", 1)[0]
        header = first.lstrip("#").strip() if _HEADER.match(first) else ""
        if section.strip():
            out.append((s, header, section))
    return out


class Splitter:
    """Split documents into token-bounded chunks.

    ``count`` counts tokens of the embedding model; ``max_tokens`` is that model's input limit.
    """

    def __init__(self, count: Callable[[str], int], *, chunk_size: int, chunk_overlap: int,
                 max_tokens: int) -> None:
        self.count = count
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.max_tokens = max_tokens

    def _splitter(self, size: int) -> RecursiveCharacterTextSplitter:
        return RecursiveCharacterTextSplitter(
            chunk_size=size,
            chunk_overlap=min(self.chunk_overlap, size // 2),
            length_function=self.count,
            add_start_index=True,
            separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
            keep_separator="end",
        )

    def split(self, doc: Document) -> list[Chunk]:
        if doc.kind == "markdown":
            sections = markdown_sections(doc.text)
        else:
            sections = [(0, "", doc.text)]
        pieces: list[tuple[int, str, str]] = []  # (start, title, text)
        for offset, header, section in sections:
            title = doc.title if not header or header == doc.title else f"{doc.title} > {header}"
            size = min(self.chunk_size, self.max_tokens - self.count(title + "\n") if title else self.max_tokens)
            size = max(size, 16)
            for start, text in self._split_text(section, size):
                pieces.append((offset + start, title, text))
        chunks = []
        for i, (start, title, text) in enumerate(pieces):
            chunks.append(Chunk(
                id=chunk_id(doc.id, i, start, text, doc.source), doc_id=doc.id, source=doc.source, title=title,
                text=text, index=i, start=start, end=start + len(text), tokens=self.count(text),
            ))
        return chunks

    def _split_text(self, text: str, size: int) -> list[tuple[int, str]]:
        stripped = text.strip()
        if not stripped:
            return []
        lead = text.index(stripped[0])
        if self.count(stripped) <= size:
            return [(lead, stripped)]
        out = []
        for d in self._splitter(size).create_documents([text]):
            start = int(d.metadata["start_index"])
            if start < 0:  # the splitter could not place it; find it ourselves
                start = text.find(d.page_content)
            for sub_start, sub in self._hard_split(d.page_content, size):
                out.append((start + sub_start, sub))
        return out

    def _hard_split(self, text: str, size: int) -> list[tuple[int, str]]:
        """Last resort for a run with no separator at all: cut at character boundaries."""
        if self.count(text) <= size:
            return [(0, text)]
        out, pos = [], 0
        while pos < len(text):
            lo, hi = pos + 1, len(text)
            while lo < hi:  # longest prefix that fits
                mid = (lo + hi + 1) // 2
                if self.count(text[pos:mid]) <= size:
                    lo = mid
                else:
                    hi = mid - 1
            out.append((pos, text[pos:lo]))
            pos = lo
        return out
