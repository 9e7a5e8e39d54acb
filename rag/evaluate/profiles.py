"""Named sets of setting overrides that benchmarks and experiments compare against each other."""
from __future__ import annotations

from typing import Any

from rag.retrieve.profile import MULTI_HOP_PRUNING

# Every pruning step off: the reranked pool as it is.
NO_PRUNE: dict[str, Any] = dict(
    min_score=None, relative_cut=None, adaptive_cut=False, dedup_threshold=None, mmr_lambda=None,
    sentence_prune=False, token_budget=None, evidence_mass=None, max_passages=None)

# What most RAG stacks do: the top five dense chunks, no rerank, nothing pruned.
NAIVE_TOP5: dict[str, Any] = {**NO_PRUNE, **dict(dense=True, sentence_search=False, lexical=False, reranker="none",
                                                 hop=False, max_passages=5)}

# Known multi-hop questions: fill the ceiling with the best sentences, no score floors, no early stop.
MULTI_HOP: dict[str, Any] = {**MULTI_HOP_PRUNING, "token_budget": 350}

PROFILES: dict[str, dict[str, Any]] = {"lean": {}, "naive-top5": NAIVE_TOP5, "multi-hop": MULTI_HOP,
                                     "no-prune": NO_PRUNE}
