"""Turn files into Documents. Knows nothing of chunking or storage.

A file that cannot be turned into text raises ``LoadError`` with a reason a person can act on;
the caller reports it and goes on with the batch.
"""
from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable
from pathlib import Path

from charset_normalizer import from_bytes

from rag.types import Document, Skipped

SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html",
            ".htm": "html", ".pdf": "pdf", ".jsonl": "beir"}


_TIE_ORDER = ("cp1252", "latin_1", "iso8859_15")


class LoadError(Exception):
    """A file that cannot be loaded; ``str(err)`` is the reason."""


def discover(paths: Iterable[str | Path], *, exclude: Iterable[str] = ()) -> tuple[list[Path], list[Skipped]]:
    """Expand files and folders (recursively) into the files to load, sorted for determinism."""
    exclude = list(exclude)
    found: set[Path] = set()
    skipped: list[Skipped] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            skipped.append(Skipped(str(p), "no such file or folder"))
            continue
        if p.is_file():
            if p.suffix.lower() in SUFFIXES:
                found.add(p.resolve())
            else:
                skipped.append(Skipped(str(p), f"unsupported file type {p.suffix or '(none)'!r}"))
            continue
        root = p.resolve()
        for f in p.rglob("*"):
            rel = f.relative_to(p).parts
            if any(part.startswith(".") for part in rel) or not f.is_file():
                continue
            if any(fnmatch.fnmatch(f.name, pat) for pat in exclude) or f.suffix.lower() not in SUFFIXES:
                continue
            if (why := _unfit_path(f, root)) is not None:
                skipped.append(Skipped(_printable(f), why))
                continue
            found.add(f.resolve())
    return sorted(found), skipped


def _unfit_path(f: Path, root: Path) -> str | None:
    """Why a file found in a folder is not ingested (None: it is)."""
    try:
        str(f).encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8 (rename it)"
    if not f.resolve().is_relative_to(root):
        # stored under the outside path, it would never be removed when the link goes
        return "symbolic link to a file outside the folder (ingest that file itself)"
    return None


def _printable(path: Path) -> str:
    """A path as text even when its bytes are not UTF-8 (each bad byte shown as U+FFFD)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def read_text(path: Path) -> str:
    """Bytes to text with the encoding detected; binary and undecodable files are refused."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LoadError(f"cannot read: {e.strerror or e}") from e
    if not data.strip():
        raise LoadError("empty file")
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoadError("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    results = from_bytes(data)
    best = results.best()
    if best is None:
        raise LoadError("undecodable: no text encoding fits its bytes")
    # Equally good guesses are common for short Western text (cp1250 vs cp1252 score the same);
    # Windows-1252 is by far the more likely, as the HTML standard's default also assumes.
    ties = [m for m in results if m.chaos == best.chaos and m.coherence == best.coherence]
    for preferred in _TIE_ORDER:
        for m in ties:
            if m.encoding == preferred:
                return str(m)
    return str(best)


def _html_text(html: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "head", "svg", "iframe"]):
        tag.decompose()
    for tag in soup.find_all(hidden=True):
        tag.decompose()
    blocks = [" ".join(s.split()) for s in soup.get_text("\n").split("\n")]
    return title, "\n".join(b for b in blocks if b)


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, OSError, ValueError, KeyError) as e:
        raise LoadError(f"unreadable PDF: {e}") from e
    except Exception as e:  # pypdf meets odd files with any error (NotImplementedError for a stream filter)
        raise LoadError(f"unreadable PDF ({type(e).__name__}: {e})") from e
    return "\n\n".join(p.strip() for p in pages if p.strip())


# No word or URL is this long: such a run is inline data (a base64 image once made 2,304 chunks and ran for
# 15 minutes), and the splitter can only cut it blindly.
LONGEST_RUN = 1_000
_LONG_RUN = re.compile(rf"\S{{{LONGEST_RUN + 1},}}")


def drop_long_runs(text: str) -> tuple[str, int]:
    """``text`` without its runs of more than LONGEST_RUN non-space characters, and how many there were."""
    return _LONG_RUN.subn("[...]", text)


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            return s.lstrip("#").strip()
        if s:
            return s[:80]
    return ""


def load_file(path: Path) -> tuple[list[Document], list[Skipped]]:
    """Load one file into one Document (for a BEIR corpus, one per line).

    Returns the documents and the parts that were skipped (bad lines of a BEIR file).
    """
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise LoadError(f"unsupported file type {path.suffix!r}")
    source = str(path)
    if kind == "pdf":
        try:
            head = path.read_bytes()[:5]
        except OSError as e:
            raise LoadError(f"cannot read: {e.strerror or e}") from e
        if head != b"%PDF-":
            raise LoadError("not a PDF (missing %PDF- header)")
        text = _pdf_text(path)
        if not text:
            raise LoadError("PDF has no text layer (scanned images need OCR)")
        return [Document(source, source, path.stem, text, kind)], []
    raw = read_text(path)
    if kind == "beir":
        return _beir_docs(raw, source)
    if kind == "html":
        title, text = _html_text(raw)
        title = title or path.stem
    else:
        text = raw.replace("\r\n", "\n")
        title = (_first_heading(text) if kind == "markdown" else "") or path.stem
    text, dropped = drop_long_runs(text)
    if not text.strip():
        raise LoadError("no visible text")
    notes = [Skipped(f"{source}:long-runs", f"left out {dropped} run(s) of over {LONGEST_RUN} characters without "
                     "a space (inline data such as a base64 image)")] if dropped else []
    return [Document(source, source, title, text, kind)], notes


def _beir_docs(raw: str, source: str) -> tuple[list[Document], list[Skipped]]:
    docs: list[Document] = []
    bad: list[Skipped] = []
    seen: set[str] = set()
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            bad.append(Skipped(f"{source}:{n}", f"invalid JSON ({e.msg})"))
            continue
        if not isinstance(obj, dict) or "_id" not in obj:
            bad.append(Skipped(f"{source}:{n}", "not a BEIR corpus record (needs '_id' and 'text')"))
            continue
        doc_id = str(obj["_id"])
        text = str(obj.get("text") or "").strip()
        title = str(obj.get("title") or "").strip()
        if doc_id in seen:
            bad.append(Skipped(f"{source}:{n}", f"duplicate _id {doc_id!r}"))
            continue
        if not text and not title:
            bad.append(Skipped(f"{source}:{n}", f"record {doc_id!r} has no text"))
            continue
        seen.add(doc_id)
        docs.append(Document(doc_id, source, title, text or title, "beir"))
    if not docs:
        reason = bad[0].reason if bad else "no records"
        raise LoadError(f"no usable BEIR corpus records (first problem: {reason})")
    return docs, bad
