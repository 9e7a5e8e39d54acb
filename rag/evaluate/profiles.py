"""Named sets of setting overrides that benchmarks and experiments compare against each other."""
from __future__ import annotations

from typing import Any

# What most RAG stacks do: the top five dense chunks, no rerank, nothing pruned.
NAIVE_TOP5: dict[str, Any] = dict(
    dense=True, sentence_search=False, lexical=False, reranker="none", hop=False, min_score=None,
    relative_cut=None, adaptive_cut=False, dedup_threshold=None, mmr_lambda=None, sentence_prune=False,
    token_budget=None, max_passages=5)

# Multi-hop questions need two passages' sentences: a larger budget and no score floors.
MULTI_HOP: dict[str, Any] = dict(token_budget=350, min_score=None, sentence_min_score=0.0)

PROFILES: dict[str, dict[str, Any]] = {"lean": {}, "naive-top5": NAIVE_TOP5, "multi-hop": MULTI_HOP}
