"""Rerankers behind one interface. Every backend leaves ``Candidate.score`` calibrated to 0..1.

- ``embedding``: no extra model. A logistic model over dense evidence at passage and sentence level
  (the packaged embedder) and lexical evidence (IDF coverage, BM25 within the candidates), trained on
  training questions only. Its output is a probability, so it is calibrated by construction.
- ``cross-encoder``: sentence-transformers ``CrossEncoder`` (sigmoid of the logit). A passage that does
  not fit the model with the question is scored by sentence windows that do, best window wins.
- ``none``: the first-stage order, scores scaled so that the best is 1.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from rag.retrieve.features import (
    Evidence,
    Idf,
    QuestionView,
    ScoredPassage,
    load_models,
    passage_features,
    query_terms,
    sentence_features,
)
from rag.types import Candidate, Trace

log = logging.getLogger(__name__)


class Reranker(Protocol):
    name: str

    def rerank(self, question: str, candidates: list[Candidate], *, qvec: np.ndarray,
               evidence: list[Evidence], idf: Idf, trace: Trace | None = None) -> list[float]:
        """Calibrated 0..1 relevance for each candidate, in the given order."""


class EmbeddingReranker:
    name = "embedding"

    def rerank(self, question: str, candidates: list[Candidate], *, qvec: np.ndarray,
               evidence: list[Evidence], idf: Idf, trace: Trace | None = None) -> list[float]:
        if not candidates:
            return []
        x = passage_features(qvec, query_terms(question, idf), [c.title for c in candidates],
                             [c.text for c in candidates], evidence)
        return [float(v) for v in load_models()["passage"](x)]


class NoReranker:
    name = "none"

    def rerank(self, question: str, candidates: list[Candidate], *, qvec: np.ndarray,
               evidence: list[Evidence], idf: Idf, trace: Trace | None = None) -> list[float]:
        fused = [c.scores.get("fused", c.score) for c in candidates]
        top = max(fused, default=0.0)
        if top <= 0:
            # Supplied passages have no first stage: keep the caller's order with falling scores.
            return [1.0 / (1 + i) for i in range(len(candidates))]
        return [max(0.0, min(1.0, f / top)) for f in fused]


class CrossEncoderReranker:
    """Any sentence-transformers cross-encoder; long pairs are scored by windows, never truncated."""

    name = "cross-encoder"

    def __init__(self, model_name: str, *, device: str = "cpu", batch_size: int = 32) -> None:
        from sentence_transformers import CrossEncoder

        from rag.index.embedder import resolve_model

        self.model = CrossEncoder(resolve_model(model_name), device=device)
        self.batch_size = batch_size
        self.windowed = 0  # how many passages had to be scored by windows
        tok = self.model.tokenizer
        longest = int(getattr(self.model, "max_seq_length", None) or tok.model_max_length)
        self.limit = longest - tok.num_special_tokens_to_add(pair=True)

    def _count(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=False)["input_ids"])

    def windows(self, question: str, text: str, spans: Sequence[tuple[int, int]]) -> list[str]:
        """The passage itself if it fits beside the question, else sentence windows that do."""
        room = self.limit - self._count(question)
        if self._count(text) <= room:
            return [text]
        self.windowed += 1
        out, cur = [], ""
        for s, e in spans or [(0, len(text))]:
            sent = text[s:e]
            joined = f"{cur} {sent}".strip()
            if cur and self._count(joined) > room:
                out.append(cur)
                joined = sent
            while self._count(joined) > room:  # one sentence longer than the room: cut by words
                words = joined.split()
                half = max(1, len(words) // 2)
                out.append(" ".join(words[:half]))
                joined = " ".join(words[half:])
            cur = joined
        if cur:
            out.append(cur)
        return out

    def rerank(self, question: str, candidates: list[Candidate], *, qvec: np.ndarray,
               evidence: list[Evidence], idf: Idf, trace: Trace | None = None) -> list[float]:
        pairs, owner = [], []
        for i, (c, ev) in enumerate(zip(candidates, evidence, strict=True)):
            for w in self.windows(question, c.text, ev.spans):
                pairs.append((question, w))
                owner.append(i)
        if not pairs:
            return []
        logits = np.asarray(self.model.predict(pairs, batch_size=self.batch_size, activation_fn=None,
                                               show_progress_bar=False), dtype=np.float64).reshape(len(pairs), -1)
        logit = logits[:, -1]  # one-logit models; for two-class heads the last column is "relevant"
        best = np.full(len(candidates), -np.inf)
        for i, v in zip(owner, logit, strict=True):
            best[i] = max(best[i], v)
        return [float(1.0 / (1.0 + math.exp(-v))) for v in best]


def score_sentences(question: str, candidates: list[Candidate], evidence: dict[str, Evidence], *,
                    qvec: np.ndarray, idf: Idf) -> list[Candidate]:
    """The candidates again, new ones with ``sentence_scores``: the calibrated probability that a sentence
    answers the question."""
    if not candidates:
        return []
    q = QuestionView.of(question, qvec, idf)
    rows = sentence_features(q, [ScoredPassage(c.title, c.text, evidence[c.id], c.score) for c in candidates])
    scores = load_models()["sentence"](np.concatenate(rows)).tolist()  # one call for the whole pool
    out, at = [], 0
    for c, x in zip(candidates, rows, strict=True):
        out.append(replace(c, sentence_scores=scores[at:at + len(x)]))
        at += len(x)
    return out


def make_reranker(name: str, *, cross_encoder_model: str, device: str = "cpu") -> tuple[Reranker, str | None]:
    """The reranker asked for, or the embedding one with a warning when a model cannot be loaded."""
    if name == "embedding":
        return EmbeddingReranker(), None
    if name == "none":
        return NoReranker(), None
    if name == "cross-encoder":
        try:
            return CrossEncoderReranker(cross_encoder_model, device=device), None
        except Exception as e:  # offline hub, missing files, bad path: all end the same way
            msg = (f"cross-encoder {cross_encoder_model!r} could not be loaded ({type(e).__name__}: "
                   f"{str(e).splitlines()[0][:200] if str(e) else ''}); using the embedding reranker instead")
            log.warning(msg)
            return EmbeddingReranker(), msg
    raise ValueError(f"unknown reranker {name!r}: choose cross-encoder, embedding or none")
