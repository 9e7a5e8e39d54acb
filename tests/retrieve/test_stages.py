"""The stage contract: each stage returns a new pool and its trace lines; the pipeline is the list of stages;
the multi-hop profile is a line of the trace, and pruning runs under the settings it chose."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from rag import Pipeline, Settings
from rag.retrieve.stages import Pool, Profile, Prune, SentenceScores, Step, line, run_stages
from rag.tokens import CachedCounter
from rag.types import Trace

# A two-hop question over invented paragraphs: the film names its director, whose paragraph holds the answer.
PASSAGES = [
    {"id": "film", "title": "Harbour Lights (1952 film)",
     "text": "Harbour Lights is a 1952 drama film directed by Maren Olsby. It follows a lighthouse keeper "
             "and his daughter through one stormy winter on the coast."},
    {"id": "person", "title": "Maren Olsby",
     "text": "Maren Olsby (born 1911 in Tromsø) was a Norwegian film director and screenwriter. She made "
             "nine features between 1938 and 1960, most of them set at sea."},
    {"id": "quokka", "title": "Quokka", "text": "The quokka is a small macropod about the size of a cat. It "
                                                "lives on a few islands off Western Australia."},
    {"id": "tower", "title": "Lighthouse", "text": "A lighthouse is a tower built to emit light as an aid to "
                                                   "navigation for ships at sea."},
]
QUESTION = "In which town was the director of Harbour Lights born?"


@pytest.fixture(scope="module")
def pipeline(embedder) -> Pipeline:  # noqa: ANN001
    return Pipeline(Settings(store_path="/nonexistent"), embedder=embedder)


def _ids(pool: Pool) -> list[tuple[str, float]]:
    return [(c.id, c.score) for c in pool.candidates]


def test_each_selection_stage_returns_a_new_pool_and_leaves_its_input(pipeline: Pipeline) -> None:
    s = pipeline.settings
    ranked = pipeline.rank(QUESTION, passages=PASSAGES)
    before = _ids(ranked)
    assert ranked.linked, "the hop should link the film to its director"
    pool = ranked
    for stage in (SentenceScores(), Profile(s), Prune(s, CachedCounter(s.tokenizer))):
        step = stage.run(pool)
        assert step.pool is not pool and _ids(pool) == [(c.id, c.score) for c in pool.candidates]
        assert all(ln.name in (stage.name, "dedup", "sentences", "budget", "max_passages") for ln in step.lines)
        pool = step.pool
    assert _ids(ranked) == before and ranked.kept is None and ranked.profile is None
    assert pool.kept and {p.id for p in pool.kept} >= {"film", "person"}


def test_the_trace_lists_the_stages_and_shows_the_profile_chosen(pipeline: Pipeline) -> None:
    ctx = pipeline.retrieve(QUESTION, passages=PASSAGES)
    names = [st.name for st in ctx.trace.stages if st.name != "load"]
    assert names[:5] == ["candidates", "rerank", "hop", "sentence scores", "profile"]
    assert ctx.trace.stage("profile").note.startswith("multi-hop: token budget")
    assert ctx.trace.stop_reason  # pruning's reason reaches the trace through its step
    off = pipeline.retrieve(QUESTION, passages=PASSAGES, hop=False)
    assert "profile" not in [st.name for st in off.trace.stages] and "hop" not in [st.name for st in off.trace.stages]


def test_pruning_runs_under_the_profile_it_is_handed(pipeline: Pipeline) -> None:
    lean = pipeline.settings.replace(token_budget=30, hop_budget=400)
    pool = run_stages([SentenceScores()], pipeline.rank(QUESTION, passages=PASSAGES, settings=lean), Trace())
    count = CachedCounter(lean.tokenizer)
    as_configured = Prune(lean, count).run(pool).pool.kept or []
    chosen = Profile(lean).run(pool).pool
    assert chosen.profile is not None and chosen.profile.prune.token_budget == 400
    multi = Prune(lean, count).run(chosen).pool.kept or []
    assert sum(p.tokens for p in as_configured) <= 30 + 2
    assert sum(p.tokens for p in multi) > 30 and {"film", "person"} <= {p.id for p in multi}


@dataclass
class _Mark:
    name: str
    warn: str = ""

    def run(self, pool: Pool) -> Step:
        n = len(pool.candidates)
        return Step(Pool(pool.question + "!"), [line(self.name, n, n, 0, 0, "marked")],
                    warnings=(self.warn,) if self.warn else (), stop_reason=f"stopped by {self.name}")


def test_run_stages_appends_lines_in_order_with_their_time_warnings_and_stop() -> None:
    trace = Trace(warnings=["earlier"])
    out = run_stages([_Mark("a"), _Mark("b", warn="careful")], Pool("q"), trace)
    assert out.question == "q!!"
    assert [st.name for st in trace.stages] == ["a", "b"] and all(st.ms >= 0.0 for st in trace.stages)
    assert trace.warnings == ["earlier", "careful"] and trace.stop_reason == "stopped by b"


def test_a_pool_before_the_candidates_stage_says_so() -> None:
    with pytest.raises(RuntimeError, match="candidates stage"):
        SentenceScores().run(Pool("q"))
