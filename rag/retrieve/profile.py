"""What selection takes beyond the prune group: the multi-hop profile (the pruning a
question gets once the hop linked two passages) and the question terms the evidence must cover."""
from __future__ import annotations

from typing import Any

from rag.retrieve.features import Idf, query_terms
from rag.settings import Settings
from rag.text import named_terms

# Pruning for two passages: no score floors and no early stop, so the context fills its budget; sentences
# rank with their passage's score too (tuned on HotpotQA train, 0.15/0.3/0.5/0.7: 0.3).
MULTI_HOP_PRUNING: dict[str, Any] = dict(min_score=None, sentence_min_score=0.0, weak_passage_floor=None,
                                         evidence_mass=None, passage_weight=0.3)


def multi_hop_settings(s: Settings) -> Settings:
    """Pruning for a question the hop found to be multi-hop: two passages must share the context, so the
    context is filled to ``hop_budget`` (never below ``token_budget``) without score floors or an early stop."""
    mine, multi = s.prune.token_budget, s.hop.hop_budget
    budget = None if mine is None or multi is None else max(mine, multi)
    return s.replace(token_budget=budget, **MULTI_HOP_PRUNING)


def cover_terms(question: str, idf: Idf, s: Settings) -> dict[str, float]:
    """The question terms the evidence must cover before selection may stop (term -> IDF): all of them with
    evidence_cover, its names and numbers with cover_names, else none."""
    if s.prune.evidence_cover:
        return query_terms(question, idf)
    return {t: idf(t) for t in named_terms(question)} if s.prune.cover_names else {}
