"""Every score a user sees is a probability in 0..1: candidates after rerank, after the hop (whose lead
links once added up to 1.22), kept passages and their sentences. A property test over random passage sets
drawn from real multi-hop paragraphs, in all three passage forms."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag import Pipeline, Settings
from rag.evaluate.datasets import hotpotqa
from rag.retrieve.hop import second_hop
from rag.types import Candidate
from tests.conftest import SHARED

ROWS = hotpotqa(SHARED / "hotpotqa-distractor-sample" / "hotpotqa_distractor_sample.jsonl")[:6]
PARAGRAPHS = [p for q in ROWS for p in q.passages]
QUESTIONS = [q.text for q in ROWS]


@pytest.fixture(scope="module")
def pipeline(embedder) -> Pipeline:
    return Pipeline(Settings(store_path="/nonexistent/never-created"), embedder=embedder)


def _in_unit(x: float) -> bool:
    return 0.0 <= x <= 1.0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(q=st.sampled_from(QUESTIONS), picks=st.lists(st.integers(0, len(PARAGRAPHS) - 1), min_size=2, max_size=12,
                                                    unique=True),
       form=st.sampled_from(["title", "plain", "strings"]), hop=st.booleans())
def test_scores_stay_probabilities(pipeline: Pipeline, q: str, picks: list[int], form: str, hop: bool) -> None:
    chosen = [PARAGRAPHS[i] for i in picks]
    passages = (chosen if form == "title" else [{k: v for k, v in p.items() if k != "title"} for p in chosen]
                if form == "plain" else [p["text"] for p in chosen])
    ctx = pipeline.retrieve(q, passages=passages, hop=hop)
    assert ctx.pool and all(_in_unit(c.score) for c in ctx.pool)
    assert all(_in_unit(v) for c in ctx.pool for v in c.scores.values())  # rerank and hop alike
    assert all(_in_unit(s) for c in ctx.pool for s in c.sentence_scores)
    assert all(_in_unit(p.score) and all(_in_unit(s) for *_, s in p.sentences) for p in ctx.passages)


@given(st.lists(st.floats(0, 1), min_size=3, max_size=8))
def test_a_lead_link_never_lifts_past_one(scores: list[float]) -> None:
    """Two passages whose openings echo each other, both strong: the lift is or-ed in, not added."""
    opening = "Ada Quill is a novelist born in Leeds who wrote The Long Harbour and Salt Roads."
    ranked = [Candidate(f"c{i}", opening if i < 2 else f"Unrelated note number {i}.", score=s)
              for i, s in enumerate(sorted(scores, reverse=True))]
    for c in second_hop("Which novelist wrote The Long Harbour?", ranked).ranked:
        assert _in_unit(c.score) and all(_in_unit(v) for v in c.scores.values())
