"""Each candidate as pruning sees it: a ``Selection`` of the sentences it still keeps."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rag.types import Candidate


@dataclass
class Selection:
    cand: Candidate
    keep: list[int]  # indices into cand.sentences, in order
    vector: np.ndarray | None = None
    unit_scores: dict[int, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.cand.score

    def runs(self) -> list[tuple[int, int]]:
        """Contiguous runs of kept sentences as character spans of the candidate text."""
        if not self.cand.sentences:
            return [(0, len(self.cand.text))] if self.keep else []
        out: list[tuple[int, int]] = []
        prev = -2
        for i in self.keep:
            s, e = self.cand.sentences[i]
            if out and i == prev + 1:
                out[-1] = (out[-1][0], e)
            else:
                out.append((s, e))
            prev = i
        return out

    def text(self) -> str:
        return " ".join(self.cand.text[s:e] for s, e in self.runs())

    def sentence_texts(self) -> list[str]:
        """Each kept sentence's text (the whole text for a candidate without sentences)."""
        c = self.cand
        if not c.sentences:
            return [c.text] if self.keep else []
        return [c.text[s:e] for s, e in (c.sentences[i] for i in self.keep)]


def added_texts(item: Selection, before: list[int]) -> list[str]:
    """The texts ``item`` keeps now and did not keep with ``before``: new sentences, or its whole text."""
    c = item.cand
    if not c.sentences:
        return [c.text] if item.keep and not before else []
    had = set(before)
    return [c.text[s:e] for s, e in (c.sentences[i] for i in item.keep if i not in had)]


def pairwise_cosines(items: list[Selection]) -> tuple[np.ndarray, list[bool]]:
    """Cosines between the items' vectors (one product, not one per pair), and which items have one;
    a pair without both vectors gets -inf."""
    has = [it.vector is not None for it in items]
    if not any(has):
        return np.full((len(items), len(items)), -np.inf), has
    dim = next(len(it.vector) for it in items if it.vector is not None)
    vectors = np.stack([it.vector if it.vector is not None else np.zeros(dim, np.float32) for it in items])
    sims = (vectors @ vectors.T).astype(np.float64)
    missing = ~np.asarray(has)
    sims[missing, :] = -np.inf
    sims[:, missing] = -np.inf
    return sims, has
