"""Second hop by title: a passage about an entity that the question or a top passage names.

Multi-hop questions ("the director of the film that ...") need a passage the question does not
resemble; its title is what links it. A candidate whose title is named by the question or by one of
the best passages is lifted close to the passage that names it. Titles shared by several
candidates (sections of one long article) name no single entity and are ignored.
"""
from __future__ import annotations

import re
from collections import Counter

from rag.types import Candidate, Drop

_PAREN = re.compile(r"\s*\([^)]*\)\s*$")


def _names(title: str) -> list[str]:
    t = title.strip().lower().replace("_", " ")
    out = [t]
    short = _PAREN.sub("", t)
    if short != t:
        out.append(short)
    return [n for n in out if len(n) >= 4]


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


def second_hop(question: str, ranked: list[Candidate], *, anchors: int = 2, weight: float = 0.9
               ) -> list[Drop]:
    """Raise the scores of title-linked candidates in place; returns one note per lift."""
    if len(ranked) < 2:
        return []
    counts = Counter(c.title.strip().lower() for c in ranked if c.title.strip())
    q = question.lower()
    tops = ranked[:anchors]
    lifted: list[Drop] = []
    for c in ranked:
        if not c.title.strip() or counts[c.title.strip().lower()] > 1:
            continue
        names = _names(c.title)
        best, why = 0.0, ""
        if any(_mentions(q, n) for n in names):
            best, why = ranked[0].score, "the question names its title"
        for a in tops:
            if a is c or a.title.strip().lower() == c.title.strip().lower():
                continue
            if a.score > best and any(_mentions(a.text.lower(), n) for n in names):
                best, why = a.score, f"top passage {a.id} names its title"
        target = weight * best
        if target > c.score:
            lifted.append(Drop(c.id, f"score {c.score:.3f} -> {target:.3f}: {why}"))
            c.scores["hop"] = target
            c.score = target
    return lifted
