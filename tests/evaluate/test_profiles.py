"""The named profiles experiments compare (rag/evaluate/profiles.py) are valid settings and do what they say."""
from __future__ import annotations

import pytest

from rag.evaluate.profiles import NAIVE_TOP5, NO_PRUNE, PROFILES
from rag.settings import Settings


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_is_a_valid_set_of_overrides(name: str) -> None:
    Settings().replace(**PROFILES[name])  # an unknown or removed name would raise


def test_no_prune_switches_every_pruning_step_off_and_naive_is_dense_top5() -> None:
    p = Settings().replace(**NO_PRUNE).prune
    assert not p.sentence_prune and p.token_budget is None and p.max_passages is None and p.evidence_mass is None
    s = Settings().replace(**NAIVE_TOP5)
    assert (s.candidates.dense, s.candidates.sentence_search, s.candidates.lexical) == (True, False, False)
    assert (s.rerank.reranker, s.hop.hop, s.prune.max_passages) == ("none", False, 5)
