"""Metadata filters (``where``) checked before Chroma sees them: a filter Chroma's engine would fail on is
the caller's mistake, reported as such."""
from __future__ import annotations

from typing import Any

from rag.errors import InputError


def check_filter(where: dict) -> None:
    """A metadata filter Chroma will accept, else an InputError naming it (Chroma's own ValueError would
    look like a fault of the service)."""
    from chromadb.api.types import validate_where

    _check_clauses(where, depth=0)
    try:
        validate_where(where)
    except (ValueError, TypeError) as e:
        raise InputError(f"filters: {e}") from None


MAX_FILTER_DEPTH = 8  # $and/$or nested deeper than any person writes: Chroma's engine fails on 100


def _check_clauses(where: Any, depth: int) -> None:
    """What Chroma's client-side check lets through and its engine then fails on (a 500 before): a field
    named like an operator ("$foo") and logical operators nested past ``MAX_FILTER_DEPTH``."""
    if depth > MAX_FILTER_DEPTH:
        raise InputError(f"filters: $and/$or nested deeper than {MAX_FILTER_DEPTH} levels")
    if not isinstance(where, dict):
        return
    for key, value in where.items():
        if key in ("$and", "$or"):
            for clause in value if isinstance(value, list) else []:
                _check_clauses(clause, depth + 1)
        elif key.startswith("$"):
            raise InputError(f"filters: {key!r} is not a field name nor $and/$or")
