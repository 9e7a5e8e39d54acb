"""Relevance evidence for passages and their sentences: dense (the packaged embedder) and lexical.

Both the embedding reranker and the sentence pruner score with small logistic models over these
features; the weights are learned on training questions only (``scripts/train_scorers.py``).
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.text import term_tuple, terms, text_processing

PASSAGE_FEATURES = ("cos_p", "s_max", "s_2nd", "lex_p", "bm25_n", "title_cov", "cos_p_rel", "s_max_rel")
SENTENCE_FEATURES = ("cos_s", "lex_s", "lex_s_n", "cos_s_rel", "cos_nb", "p_score", "first", "log_len",
                     "title_cov", "cos_s_grel", "lex_s_grel", "bigram", "num_yes", "num_no", "cap_new")
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

    @classmethod
    def from_texts(cls, texts: list[str]) -> Idf:
        df: dict[str, int] = {}
        for t in texts:
            for w in set(term_tuple(t)):
                df[w] = df.get(w, 0) + 1
        return cls(df, len(texts))

    def __call__(self, term: str) -> float:
        d = self.df.get(term, 0)
        return math.log(1.0 + (self.n - d + 0.5) / (d + 0.5))


def coverage(q_terms: dict[str, float], text_terms: set[str]) -> float:
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
    toks = [term_tuple(f"{ti} {tx}") for ti, tx in zip(titles, texts, strict=True)]
    avg = float(np.mean([len(t) for t in toks])) if toks else 1.0
    raw_bm25 = [bm25(q_terms, _tf(t), len(t), avg) for t in toks]
    top_bm25 = max(raw_bm25, default=0.0) or 1.0
    rows = np.zeros((n, len(PASSAGE_FEATURES)), dtype=np.float32)
    for i, ev in enumerate(evidence):
        sims = ev.sentence_vectors @ qvec if len(ev.spans) else np.zeros(1, dtype=np.float32)
        top = np.sort(sims)[::-1]
        rows[i, :6] = (
            float(ev.vector @ qvec), float(top[0]), float(top[1] if len(top) > 1 else top[0]),
            coverage(q_terms, set(toks[i])), raw_bm25[i] / top_bm25,
            coverage(q_terms, set(term_tuple(titles[i]))),
        )
    if n:
        rows[:, 6] = rows[:, 0] - rows[:, 0].max()
        rows[:, 7] = rows[:, 1] - rows[:, 1].max()
    return rows


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


def sentence_lexical(q: QuestionView, text: str, spans: list[tuple[int, int]]) -> list[float]:
    return [coverage(q.terms, set(term_tuple(text[s:e]))) for s, e in spans]


def sentence_features(q: QuestionView, title: str, text: str, ev: Evidence, p_score: float,
                      global_best: tuple[float, float] | None = None) -> np.ndarray:
    """One row of SENTENCE_FEATURES per sentence of one passage.

    ``global_best``: the best sentence cosine and lexical coverage over all candidates, so that a
    sentence is also judged against the whole pool, not only against its own passage.
    """
    if not ev.spans:
        return np.zeros((0, len(SENTENCE_FEATURES)), dtype=np.float32)
    sims = ev.sentence_vectors @ q.vec
    best = float(sims.max())
    lex = sentence_lexical(q, text, ev.spans)
    best_lex = max(lex) or 1.0
    g_cos, g_lex = global_best if global_best is not None else (best, max(lex))
    title_cov = coverage(q.terms, set(term_tuple(title)))
    rows = np.zeros((len(ev.spans), len(SENTENCE_FEATURES)), dtype=np.float32)
    for i, (s, e) in enumerate(ev.spans):
        sent = text[s:e]
        st = term_tuple(sent)
        nb = [sims[j] for j in (i - 1, i + 1) if 0 <= j < len(sims)]
        has_digit = bool(_DIGIT.search(sent))
        bigram = (len(q.bigrams & set(zip(st, st[1:], strict=False))) / len(q.bigrams)) if q.bigrams else 0.0
        caps = {w.lower() for w in _CAP.findall(sent)} - q.words
        rows[i] = (float(sims[i]), lex[i], lex[i] / best_lex, float(sims[i]) - best,
                   float(max(nb)) if nb else 0.0, p_score, 1.0 if i == 0 else 0.0,
                   math.log1p(len(sent.split())), title_cov, float(sims[i]) - g_cos, lex[i] - g_lex, bigram,
                   float(q.numeric and has_digit), float(q.numeric and not has_digit), min(len(caps), 5) / 5.0)
    return rows


def _tf(tokens: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in tokens:
        out[t] = out.get(t, 0) + 1
    return out


def query_terms(question: str, idf: Idf) -> dict[str, float]:
    return {t: idf(t) for t in dict.fromkeys(terms(question))}


class Logistic:
    """Standardise, dot, sigmoid: a calibrated 0..1 probability of relevance."""

    def __init__(self, names: tuple[str, ...], mean: list[float], scale: list[float], coef: list[float],
                 intercept: float) -> None:
        self.names = names
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = float(intercept)

    def logits(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits(x), -50.0, 50.0)))


@lru_cache(maxsize=1)
def load_models(path: str = str(WEIGHTS_FILE)) -> dict[str, Logistic]:
    data = json.loads(Path(path).read_text())
    trained, now = data.get("text_processing"), text_processing()
    if trained != now:
        raise RuntimeError(f"{path}: the learned scorers were trained on {trained} terms but this install "
                           f"produces {now} terms, which would lower quality without a word. Install the "
                           "declared dependencies (pip install PyStemmer) or retrain with scripts/train_scorers.py")
    names = {"passage": PASSAGE_FEATURES, "sentence": SENTENCE_FEATURES}
    out = {}
    for key, feats in names.items():
        m = data[key]
        if tuple(m["features"]) != feats:
            raise RuntimeError(f"{path}: the {key} model was trained on other features; retrain it "
                               "with scripts/train_scorers.py")
        out[key] = Logistic(feats, m["mean"], m["scale"], m["coef"], m["intercept"])
    return out
