"""The multi-hop profile: room for two passages, never less than the configured budget, and the terms the
evidence must cover."""
from __future__ import annotations

from rag.retrieve.features import Idf
from rag.retrieve.profile import cover_terms, multi_hop_settings
from rag.settings import Settings


def test_the_profile_fills_to_the_hop_budget_without_floors_or_early_stop() -> None:
    s = Settings(token_budget=200, hop_budget=400, passage_weight=0.0)
    hop = multi_hop_settings(s)
    assert hop.prune.token_budget == 400 and hop.prune.min_score is None and hop.prune.evidence_mass is None
    assert hop.prune.passage_weight > 0.0 and s.prune.token_budget == 200  # the caller's settings are left as they were


def test_the_profile_never_lowers_the_budget_and_keeps_no_ceiling_as_none() -> None:
    assert multi_hop_settings(Settings(token_budget=600, hop_budget=400)).prune.token_budget == 600
    assert multi_hop_settings(Settings(token_budget=None, hop_budget=400)).prune.token_budget is None


def test_cover_terms_follow_the_switches() -> None:
    idf = Idf.from_texts(["Maren Olsby directed Harbour Lights.", "A lighthouse on the coast."])
    q = "Where was Maren Olsby born?"
    every = cover_terms(q, idf, Settings(evidence_cover=True))
    names = cover_terms(q, idf, Settings())
    assert set(names) == {"maren", "olsbi"} and all(v > 0 for v in every.values())
    assert set(names) < set(every)
    assert cover_terms(q, idf, Settings(cover_names=False)) == {}
