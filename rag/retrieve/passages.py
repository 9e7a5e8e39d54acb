"""Passages a caller supplies with the question (strings or ``{id, text, title, source, doc_id}``), as the
candidates retrieval ranks instead of the store's."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.errors import InputError
from rag.types import Candidate

PassageInput = str | dict[str, Any]


def to_candidates(passages: Sequence[PassageInput]) -> list[Candidate]:
    """Caller-supplied passages (strings or {id, text, title, source, doc_id}) as candidates."""
    out: list[Candidate] = []
    seen: set[str] = set()
    for i, p in enumerate(passages):
        if isinstance(p, str):
            p = {"text": p}
        if not isinstance(p, dict) or not isinstance(p.get("text"), str):
            raise InputError(f"passage {i}: expected a string or an object with a 'text' string")
        if not p["text"].strip():
            continue
        pid = str(p.get("id") or f"p{i}")
        if pid in seen:
            raise InputError(f"passage {i}: duplicate id {pid!r}")
        seen.add(pid)
        text = p["text"]
        out.append(Candidate(pid, text, str(p.get("doc_id") or pid), str(p.get("source") or ""),
                             str(p.get("title") or ""), 0, len(text)))
    return out
