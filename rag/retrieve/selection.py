"""What pruning takes: its config (``PruneConfig.of(settings)``), and each candidate as a ``Selection`` of
the sentences it still keeps."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.settings import FIELDS, Settings
from rag.types import Candidate


def _default(name: str) -> Any:
    """The setting's own default: a config built without settings prunes as a default service does."""
    return FIELDS[name].default


@dataclass
class PruneConfig:
    min_score: float | None = _default("min_score")
    relative_cut: float | None = _default("relative_cut")
    adaptive_cut: bool = _default("adaptive_cut")
    adaptive_min_gap: float = _default("adaptive_min_gap")
    adaptive_window: int = 8
    dedup_threshold: float | None = _default("dedup_threshold")
    mmr_lambda: float | None = _default("mmr_lambda")
    sentence_prune: bool = _default("sentence_prune")
    sentence_min_score: float = _default("sentence_min_score")
    # A passage scoring under this keeps only sentences that score at least this themselves: a near-zero
    # sentence of a near-zero passage is filler, while a weak sentence of a relevant passage (a bridge, an
    # answer beside the best sentence) is not.
    weak_passage_floor: float | None = _default("weak_passage_floor")
    sentence_neighbors: int = _default("sentence_neighbors")
    # Sentences are ranked by score^(1-w) x their passage's score^w. With w > 0 a passage the hop lifted by
    # its name (a bridge) ranks its plain sentences ("The SAS was founded in 1941") above strong-sounding
    # sentences of passages nothing points to; a sentence score alone cannot see that lift.
    passage_weight: float = _default("passage_weight")
    token_budget: int | None = _default("token_budget")
    max_passages: int | None = _default("max_passages")
    allow_empty: bool = _default("allow_empty")
    # Evidence-driven selection (None: pack the budget by score). Sentences are added best first until
    # their calibrated scores add up to ``evidence_mass`` (the expected number of answer-bearing
    # sentences kept) and, with ``evidence_cover``, every question term found among the candidates is
    # covered; the budget is then only a ceiling.
    evidence_mass: float | None = _default("evidence_mass")
    evidence_cover: bool = True
    # With evidence_mass, once the evidence is enough: a kept passage also keeps each of its sentences
    # scoring at least this share of its best one. Scores within one passage compare better than across
    # passages, and an answer next to the best evidence is where a near miss usually lies.
    evidence_siblings: float | None = _default("evidence_siblings")

    @classmethod
    def of(cls, s: Settings) -> PruneConfig:
        p = s.prune
        return cls(min_score=p.min_score, relative_cut=p.relative_cut, adaptive_cut=p.adaptive_cut,
                   adaptive_min_gap=p.adaptive_min_gap, dedup_threshold=p.dedup_threshold,
                   mmr_lambda=p.mmr_lambda, sentence_prune=p.sentence_prune,
                   sentence_min_score=p.sentence_min_score, weak_passage_floor=p.weak_passage_floor,
                   sentence_neighbors=p.sentence_neighbors, passage_weight=p.passage_weight,
                   token_budget=p.token_budget, max_passages=p.max_passages, allow_empty=p.allow_empty,
                   evidence_mass=p.evidence_mass, evidence_siblings=p.evidence_siblings,
                   evidence_cover=p.evidence_cover or p.cover_names)


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
