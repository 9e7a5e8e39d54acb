"""Relevance evidence for passages and their sentences: dense (the packaged embedder) and lexical.

Both the embedding reranker and the sentence pruner score with small logistic models over these
features; the weights are learned on training questions only (``scripts/train_scorers.py``).
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence, Set
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rag.language import current, using
from rag.logistic import Logistic, read_model
from rag.memo import byte_lru
from rag.text import term_tuple, terms

PASSAGE_FEATURES = ("cos_p", "s_max", "s_2nd", "lex_p", "bm25_n", "title_cov", "cos_p_rel", "s_max_rel")
SENTENCE_FEATURES = ("cos_s", "lex_s", "lex_s_n", "cos_s_rel", "cos_nb", "p_score", "first", "log_len",
                     "title_cov", "cos_s_grel", "lex_s_grel", "bigram", "num_yes", "num_no", "cap_new")
# The answer path's abstention model (rag.answer.abstain): logits of the best kept sentence's answer
# probability and of the best passage's score, their product, and whether a name of the question is missing.
_NUMERIC_Q = re.compile(r"\b(how (many|much|long|old|far|large|big|tall|often)|what (year|percentage|percent|"
                        r"number|date|decade|century)|when|which year|in what year)\b", re.I)
_DIGIT = re.compile(r"\d")
_CAP = re.compile(r"\b[A-Z][a-z]+")
WEIGHTS_FILE = Path(__file__).with_name("weights.json")


@dataclass
class Evidence:
    """What a candidate offers: its vector and its sentences' spans and vectors."""

    vector: np.ndarray
    spans: list[tuple[int, int]]
    sentence_vectors: np.ndarray


class Idf:
    """IDF of query terms, from the lexical index of the store or from the passages at hand."""

    def __init__(self, df: dict[str, int], n: int) -> None:
        self.df, self.n = df, max(n, 1)
        self._memo: dict[str, float] = {}  # the hop asks ~1,000 times a query; bounded by the vocabulary
        self._unseen = math.log(1.0 + (self.n + 0.5) / 0.5)

    @classmethod
    def from_texts(cls, texts: list[str]) -> Idf:
        df: dict[str, int] = {}
        for t in texts:
            for w in set(term_tuple(t)):
                df[w] = df.get(w, 0) + 1
        return cls(df, len(texts))

    def __call__(self, term: str) -> float:
        got = self._memo.get(term)
        if got is None:
            d = self.df.get(term, 0)
            if not d:
                return self._unseen
            got = self._memo[term] = math.log(1.0 + (self.n - d + 0.5) / (d + 0.5))
        return got


def coverage(q_terms: dict[str, float], text_terms: Set[str]) -> float:
    """Share of the query's IDF mass found in a text, 0..1."""
    total = sum(q_terms.values())
    return sum(w for t, w in q_terms.items() if t in text_terms) / total if total else 0.0


def bm25(q_terms: dict[str, float], tf: dict[str, int], length: int, avg: float, k1: float = 0.9,
         b: float = 0.4) -> float:
    s = 0.0
    for t, w in q_terms.items():
        f = tf.get(t, 0)
        if f:
            s += w * f * (k1 + 1) / (f + k1 * (1 - b + b * length / max(avg, 1e-9)))
    return s


def passage_features(qvec: np.ndarray, q_terms: dict[str, float], titles: list[str], texts: list[str],
                     evidence: list[Evidence]) -> np.ndarray:
    """One row of PASSAGE_FEATURES per candidate; the *_rel ones are relative to the best candidate."""
    n = len(texts)
    code = current().code
    views = [_passage_terms(code, ti, tx) for ti, tx in zip(titles, texts, strict=True)]
    avg = float(np.mean([v.length for v in views])) if views else 1.0
    raw_bm25 = [bm25(q_terms, v.tf, v.length, avg) for v in views]
    top_bm25 = max(raw_bm25, default=0.0) or 1.0
    rows = np.zeros((n, len(PASSAGE_FEATURES)), dtype=np.float32)
    for i, ev in enumerate(evidence):
        sims = ev.sentence_vectors @ qvec if len(ev.spans) else np.zeros(1, dtype=np.float32)
        top = np.sort(sims)[::-1]
        rows[i, :6] = (
            float(ev.vector @ qvec), float(top[0]), float(top[1] if len(top) > 1 else top[0]),
            coverage(q_terms, views[i].tf.keys()), raw_bm25[i] / top_bm25,
            coverage(q_terms, _term_set(code, titles[i])),
        )
    if n:
        rows[:, 6] = rows[:, 0] - rows[:, 0].max()
        rows[:, 7] = rows[:, 1] - rows[:, 1].max()
    return rows


@dataclass(frozen=True)
class _PassageTerms:
    tf: dict[str, int]  # also the passage's term set, for coverage
    length: int


# The views below depend on a text alone, and the same passages and sentences come back question after
# question: computing them once per text took about a fifth of a warm query's feature time.
@byte_lru(16)
def _passage_terms(code: str, title: str, text: str) -> _PassageTerms:
    with using(code):
        toks = term_tuple(f"{title} {text}")
    return _PassageTerms(_tf(toks), len(toks))


@byte_lru(8)
def _term_set(code: str, text: str) -> frozenset[str]:
    with using(code):
        return frozenset(term_tuple(text))


@dataclass(frozen=True)
class SentenceView:
    """What a sentence's features read from its text alone."""

    terms: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    has_digit: bool
    capitalised: frozenset[str]  # lower-cased capitalised words: names the question may not mention
    log_len: float

    @staticmethod
    @byte_lru(16)
    def of(code: str, sentence: str) -> SentenceView:
        with using(code):
            st = term_tuple(sentence)
        return SentenceView(frozenset(st), frozenset(zip(st, st[1:], strict=False)), bool(_DIGIT.search(sentence)),
                            frozenset(w.lower() for w in _CAP.findall(sentence)),
                            math.log1p(len(sentence.split())))


@dataclass
class QuestionView:
    """What sentence features need of the question, computed once per question."""

    text: str
    vec: np.ndarray
    terms: dict[str, float]
    bigrams: set[tuple[str, str]]
    numeric: bool
    words: set[str]

    @classmethod
    def of(cls, question: str, qvec: np.ndarray, idf: Idf) -> QuestionView:
        t = terms(question)
        return cls(question, qvec, query_terms(question, idf), set(zip(t, t[1:], strict=False)),
                   bool(_NUMERIC_Q.search(question)), {w.lower() for w in re.findall(r"\w+", question)})


class ScoredPassage(NamedTuple):
    """A passage whose sentences are to be scored, with its own calibrated score."""

    title: str
    text: str
    evidence: Evidence
    score: float


def sentence_features(q: QuestionView, passages: Sequence[ScoredPassage]) -> list[np.ndarray]:
    """One matrix of SENTENCE_FEATURES rows per passage, a row per sentence, computed for all passages in
    one pass (a product and a column at a time, not a Python loop per sentence). A sentence is judged
    against its own passage and against the best sentence of all ``passages`` (cosine and lexical
    coverage)."""
    spans = [(i, a, b) for i, p in enumerate(passages) for a, b in p.evidence.spans]
    if not spans:
        return [np.zeros((0, len(SENTENCE_FEATURES)), dtype=np.float32) for _ in passages]
    owner = np.fromiter((i for i, _, _ in spans), dtype=np.int64, count=len(spans))
    sizes = np.bincount(owner, minlength=len(passages))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    place = np.arange(len(spans)) - starts[owner]  # a sentence's index in its passage
    vectors = np.concatenate([p.evidence.sentence_vectors for p in passages if p.evidence.spans])
    sims = (vectors @ q.vec).astype(np.float64)
    code = current().code
    views = [SentenceView.of(code, passages[i].text[a:b]) for i, a, b in spans]
    lex = np.array([coverage(q.terms, v.terms) for v in views])
    present = sizes > 0  # reduceat needs non-empty groups
    best, best_lex = np.zeros(len(passages)), np.zeros(len(passages))
    best[present] = np.maximum.reduceat(sims, starts[present])
    best_lex[present] = np.maximum.reduceat(lex, starts[present])
    before = np.where(place > 0, np.roll(sims, 1), -np.inf)
    after = np.where(place < sizes[owner] - 1, np.roll(sims, -1), -np.inf)
    neighbour = np.maximum(before, after)
    digit = np.array([v.has_digit for v in views], dtype=np.float64)
    n_bigrams = len(q.bigrams)
    title_cov = np.array([coverage(q.terms, _term_set(code, p.title)) for p in passages])
    rows = np.column_stack((
        sims, lex, lex / np.where(best_lex > 0, best_lex, 1.0)[owner], sims - best[owner],
        np.where(np.isfinite(neighbour), neighbour, 0.0), np.array([p.score for p in passages])[owner],
        (place == 0).astype(np.float64), [v.log_len for v in views], title_cov[owner], sims - sims.max(),
        lex - lex.max(), [len(q.bigrams & v.bigrams) / n_bigrams if n_bigrams else 0.0 for v in views],
        digit * q.numeric, (1.0 - digit) * q.numeric, [min(len(v.capitalised - q.words), 5) / 5.0 for v in views],
    )).astype(np.float32)
    return np.split(rows, np.cumsum(sizes)[:-1])


def _tf(tokens: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in tokens:
        out[t] = out.get(t, 0) + 1
    return out


def query_terms(question: str, idf: Idf) -> dict[str, float]:
    return {t: idf(t) for t in dict.fromkeys(terms(question))}


@lru_cache(maxsize=1)
def load_models(path: str = str(WEIGHTS_FILE)) -> dict[str, Logistic]:
    """The reranker's ("passage") and the sentence pruner's ("sentence") models."""
    return {key: read_model(Path(path), key, feats, "train_scorers")
            for key, feats in (("passage", PASSAGE_FEATURES), ("sentence", SENTENCE_FEATURES))}
