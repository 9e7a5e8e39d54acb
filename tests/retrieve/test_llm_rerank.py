"""The LLM reranker grading passages through the fake OpenAI-compatible server."""
from __future__ import annotations

import pytest

from rag import Pipeline, Settings
from tests.openai_case import PASSAGES, QUESTION


def test_llm_reranker_grades_in_batches_and_counts_its_tokens(openai_pipeline, llm) -> None:
    passages = PASSAGES + [{"id": f"noise{i}", "text": f"Tide pools hold anemones and crabs, note {i}."}
                           for i in range(5)]
    ranked = openai_pipeline.search(QUESTION, k=7, passages=passages, reranker="llm", llm_rerank_depth=5,
                             llm_rerank_batch=2, llm_model="o3-mini")
    reqs = llm.requests()
    assert len(reqs) == 3                                          # 5 graded, 2 per request
    assert all(len(r["body"]["messages"]) == 2 and r["body"]["messages"][0]["role"] == "developer" for r in reqs)
    assert ranked[0].id == "budget" and ranked[0].score > 0.9      # graded 3 -> calibrated near 1
    assert all(0.0 <= c.score <= 1.0 for c in ranked)
    ctx = openai_pipeline.retrieve(QUESTION, passages=passages, reranker="llm", llm_rerank_depth=5, llm_rerank_batch=2,
                            llm_model="o3-mini")
    calls = ctx.trace.calls
    assert len(calls) == 3 and all(c.stage == "rerank" and c.prompt_tokens > 0 for c in calls)
    assert sum(c.reasoning_tokens for c in calls) > 0 and ctx.trace.cost > 0
    ans = openai_pipeline.answer(QUESTION, passages=passages, reranker="llm", llm_model="o3-mini")
    assert ans.to_dict()["total_cost"] == pytest.approx(ans.cost + ans.trace.cost)


def test_llm_reranker_needs_an_endpoint(embedder) -> None:
    p = Pipeline(Settings(store_path="/nonexistent", answerer="extractive"), embedder=embedder)
    with pytest.raises(ValueError, match="llm reranker needs a model endpoint"):
        p.retrieve(QUESTION, passages=PASSAGES, reranker="llm")
