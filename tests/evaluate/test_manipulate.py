"""Distractors in, gold passages moved: what an experiment does to a context (rag/evaluate/manipulate.py)."""
from __future__ import annotations

import pytest

from rag import Pipeline, Settings
from rag.evaluate.datasets import Question, hotpotqa
from rag.evaluate.manipulate import Manipulation, apply, distractor_share, is_gold
from rag.evaluate.metrics import (
    rank_metrics,
)
from rag.tokens import count_tokens
from tests.conftest import ROOT

HOTPOT = ROOT.parent / "shared" / "data" / "hotpotqa-distractor-sample" / "hotpotqa_distractor_sample.jsonl"


def _q(**kw) -> Question:
    return Question("q1", "Who built the bridge?", **kw)


def test_gold_and_distractor_share() -> None:
    from rag.types import Passage

    def p(pid: str, doc: str, text: str) -> Passage:
        return Passage(pid, doc, "", "", text, 0.5, [(0, len(text))], 0)

    q = _q(answers=["Eiffel"], relevant={"d1": 1})
    gold, other = p("1", "d1", "A bridge."), p("2", "d9", "Cats sleep a lot.")
    answer_elsewhere = p("3", "d5", "Eiffel.")
    assert is_gold("d1", "x", q) and is_gold("d5", "by Eiffel", q) and not is_gold("d9", "cats", q)
    share = distractor_share([gold, other, answer_elsewhere], q, count_tokens)
    assert share == pytest.approx(count_tokens(other.text) / sum(count_tokens(x.text) for x in (gold, other,
                                                                                              answer_elsewhere)))
    assert distractor_share([gold], q, count_tokens) == 0.0
    assert distractor_share([], q, count_tokens) is None
    with pytest.raises(ValueError, match="gold_position"):
        Manipulation(gold_position="top")
    m, rest = Manipulation.split({"distractors": 2, "token_budget": 60})
    assert m.distractors == 2 and rest == {"token_budget": 60}


@pytest.mark.integration
def test_distractors_and_gold_position_on_hotpotqa(embedder) -> None:
    q = hotpotqa(HOTPOT)[0]
    p = Pipeline(Settings(store_path="/nonexistent"), embedder=embedder)
    ctx = p.retrieve(q.text, passages=q.passages)
    assert [c.doc_id for c in ctx.pool][:1] and ctx.pool[0].score >= ctx.pool[-1].score
    assert rank_metrics([c.doc_id for c in ctx.pool], q.relevant)["recall@10"] == 1.0  # 10 paragraphs, all ranked
    lean_share = distractor_share(ctx.passages, q, count_tokens)

    hard = apply(ctx, q, Manipulation(distractors=2), count=count_tokens)
    added = hard.passages[len(ctx.passages):]
    assert len(added) == 2 and all(not is_gold(x.doc_id, x.text, q) for x in added)
    kept_ids = {x.id for x in ctx.passages}
    best_dropped = [c.id for c in ctx.pool if c.id not in kept_ids and c.doc_id not in q.relevant][:2]
    assert [x.id for x in added] == best_dropped                      # hard = best-ranked non-gold left out
    assert hard.tokens > ctx.tokens and distractor_share(hard.passages, q, count_tokens) > lean_share
    assert "2 hard distractor(s)" in hard.trace.stages[-1].note
    assert all(st.name != "experiment" for st in ctx.trace.stages)  # the input context is left as it was

    from rag.evaluate.experiment import RandomPassages

    others = hotpotqa(HOTPOT)[1:6]

    rnd = RandomPassages([q, *others], p)
    r1 = apply(p.retrieve(q.text, passages=q.passages), q, Manipulation(3, "random"), count=count_tokens,
               random_pool=rnd)
    r2 = apply(p.retrieve(q.text, passages=q.passages), q, Manipulation(3, "random"), count=count_tokens,
               random_pool=rnd)
    own = {x["id"] for x in q.passages}
    new = [x.id for x in r1.passages if x.id not in own]
    assert len(new) == 3 and new == [x.id for x in r2.passages if x.id not in own]  # seeded by question

    for where in ("start", "middle", "end"):
        moved = apply(p.retrieve(q.text, passages=q.passages), q, Manipulation(4, "hard", where),
                      count=count_tokens)
        flags = [is_gold(x.doc_id, x.text, q) for x in moved.passages]
        n, g = len(flags), sum(flags)
        at = {"start": 0, "middle": (n - g) // 2, "end": n - g}[where]
        assert g >= 1 and flags[at:at + g] == [True] * g, (where, flags)
        assert moved.tokens == count_tokens(moved.text)
