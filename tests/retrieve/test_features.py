"""Sentence features, computed for a whole pool at once, judge each passage's sentences on their own."""
from __future__ import annotations

import numpy as np

from rag.retrieve.features import SENTENCE_FEATURES, Evidence, Idf, QuestionView, ScoredPassage, sentence_features
from rag.text import sentence_spans

GLOBAL = {"cos_s_grel", "lex_s_grel"}  # the only columns that look at the other passages


def _passage(text: str, vectors: np.ndarray, score: float, title: str = "") -> ScoredPassage:
    spans = sentence_spans(text)
    assert len(spans) == len(vectors)
    return ScoredPassage(title, text, Evidence(vectors.mean(0), spans, vectors.astype(np.float32)), score)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 8))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_pool_scores_each_passage_as_it_would_alone() -> None:
    rng = np.random.default_rng(3)
    qvec = _unit(rng, 1)[0].astype(np.float32)
    texts = ["Paris is the capital of France. It lies on the Seine. About 2 million people live there.",
             "The Seine flows through Paris.",
             "Lyon is in France. It was founded in 43 BC."]
    pool = [_passage(t, _unit(rng, len(sentence_spans(t))), s, title)
            for t, s, title in zip(texts, (0.9, 0.5, 0.3), ("Paris", "", "Lyon"), strict=True)]
    question = "How many people live in Paris, the capital of France?"
    q = QuestionView.of(question, qvec, Idf.from_texts(texts))
    together = sentence_features(q, pool)
    assert [len(x) for x in together] == [3, 1, 2]
    local = [i for i, name in enumerate(SENTENCE_FEATURES) if name not in GLOBAL]
    for p, rows in zip(pool, together, strict=True):
        alone = sentence_features(q, [p])[0]
        assert np.allclose(rows[:, local], alone[:, local], atol=1e-6)
    cos_nb, first = SENTENCE_FEATURES.index("cos_nb"), SENTENCE_FEATURES.index("first")
    sims = [p.evidence.sentence_vectors @ qvec for p in pool]
    assert together[1][0, cos_nb] == 0.0  # a lone sentence has no neighbour, whatever its pool
    assert np.isclose(together[2][0, cos_nb], sims[2][1]) and np.isclose(together[0][2, cos_nb], sims[0][1])
    assert together[0][:, first].tolist() == [1.0, 0.0, 0.0]
    grel = SENTENCE_FEATURES.index("cos_s_grel")
    assert np.isclose(max(r[:, grel].max() for r in together), 0.0, atol=1e-6)
    assert sentence_features(q, []) == []
