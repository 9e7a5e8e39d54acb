"""Whether a context is worth a model call: the answer path's abstention rules (issue 12).

A question is judged by a learned logistic model (``abstain_learned_above``) that reads the final context:
how well its best sentence answers, how relevant its best passage is, both together, and whether a name
or number of the question appears nowhere in it. Claims and keyword queries, which the sentence model was
not trained on, are judged by the best passage's score alone (``abstain_below``).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.language import reads_as_english
from rag.logistic import Logistic, read_model
from rag.settings import Settings
from rag.text import is_question, terms, unmentioned_names
from rag.types import Context, StageTrace

_ANYWAY = "set abstain_below=None to call the model anyway"
ABSTAIN_FEATURES = ("answer_logit", "passage_logit", "answer_x_passage", "name_missing", "covered")
WEIGHTS_FILE = Path(__file__).with_name("abstain_weights.json")


def _logit(p: float) -> float:
    # clipped: a score of exactly 0 or 1 would otherwise dominate the product feature
    p = min(max(p, 1e-3), 1 - 1e-3)
    return math.log(p / (1 - p))


def best_answer(ctx: Context) -> float | None:
    """The best kept sentence's answer probability (None when no sentence was scored)."""
    return max((score for p in ctx.passages for *_, score in p.sentences), default=None)


def _best_passage(ctx: Context) -> float:
    return max(p.score for p in ctx.passages)


def signals(ctx: Context) -> dict[str, Any] | None:
    """What the final context offers the learned rule (None when it does not judge it: no passage, no
    scored sentence, or a query not phrased as a question)."""
    answer = best_answer(ctx)
    if not ctx.passages or answer is None or not is_question(ctx.question):
        return None
    asked = set(terms(ctx.question))
    return {"answer": answer, "passage": _best_passage(ctx),
            "covered": len(asked & set(terms(ctx.text))) / max(1, len(asked)),
            "missing": unmentioned_names(ctx.question, ctx.text)}  # the names themselves, for the message


# Each learned input from the signals. Why the product: a weak best sentence in a strongly relevant passage
# is a hard answerable question, while the same sentence in a weak passage is about a neighbour of what was
# asked.
_FEATURES: dict[str, Callable[[dict[str, Any]], float]] = {
    "answer_logit": lambda s: _logit(s["answer"]),
    "passage_logit": lambda s: _logit(s["passage"]),
    "answer_x_passage": lambda s: _logit(s["answer"]) * _logit(s["passage"]),
    "name_missing": lambda s: 1.0 if s["missing"] else 0.0,  # rows cached by the scripts hold a bool
    "covered": lambda s: s["covered"],
}


def feature_row(sig: dict[str, Any]) -> np.ndarray:
    """The learned rule's inputs (``ABSTAIN_FEATURES``), one row."""
    return np.array([[_FEATURES[name](sig) for name in ABSTAIN_FEATURES]], dtype=np.float32)


def abstain_features(ctx: Context) -> np.ndarray:
    """The learned rule's inputs for a context it judges."""
    sig = signals(ctx)
    if sig is None:
        raise ValueError("the learned rule judges questions with scored sentences only")
    return feature_row(sig)


def unanswerable(ctx: Context) -> float:
    """The learned probability that the context does not hold the answer to its question."""
    return _probability(abstain_features(ctx))


@lru_cache(maxsize=1)
def load_model(path: str = str(WEIGHTS_FILE)) -> Logistic:
    """The learned rule (trained on the contexts retrieval makes: ``scripts/train_abstain.py``)."""
    return read_model(Path(path), "abstain", ABSTAIN_FEATURES, "train_abstain")


def _probability(row: np.ndarray) -> float:
    return float(load_model()(row)[0])


def nothing_to_read(ctx: Context, s: Settings) -> str:
    """Why the context is not worth a model call ("" when it is)."""
    if not ctx.passages:  # only with allow_empty
        return "the context is empty"
    if s.abstain.abstain_below is None:
        return ""
    answer = best_answer(ctx)
    # The scorers learned what relevant passages and answering sentences look like in English: only English
    # text is judged by their scores, whether the language was set or English text assumed. On German and
    # Spanish text the learned rule refused 14-26% of answerable questions, and even the passage floor 4-8%.
    if not (s.language == "en" and reads_as_english(f"{ctx.question} {ctx.text}")):
        return ""
    if answer is not None and is_question(ctx.question) and s.abstain.abstain_learned_above is not None:
        return _learned(ctx, answer, s.abstain.abstain_learned_above)
    best = _best_passage(ctx)
    if best < s.abstain.abstain_below:
        return (f"no passage is relevant (best calibrated score {best:.3f} < abstain_below {s.abstain.abstain_below}; "
                f"{_ANYWAY})")
    return ""


def _learned(ctx: Context, answer: float, above: float) -> str:
    sig = signals(ctx)  # judged here only with passages, a scored sentence and a question: never None
    assert sig is not None
    best, missing = sig["passage"], sig["missing"]
    p = _probability(feature_row(sig))
    if p < above:
        return ""
    names = f"; the context never mentions {_listed(missing)}" if missing else ""
    return (f"the context does not look like it holds the answer (learned probability {p:.3f} >= "
            f"abstain_learned_above {above}; best answer probability {answer:.3f}, best passage "
            f"{best:.3f}{names}; {_ANYWAY})")


def _listed(names: list[str]) -> str:
    return ", ".join(repr(m) for m in names)


@dataclass
class Abstain:
    """The answer path's first stage: whether the context is worth a model call, as a line of the trace
    (``run`` returns the reason to abstain, "" to call the model, and that line)."""

    settings: Settings
    name: str = "abstain"

    def run(self, ctx: Context) -> tuple[str, StageTrace]:
        t0 = time.perf_counter()
        why = nothing_to_read(ctx, self.settings)
        n, tokens = len(ctx.passages), ctx.tokens
        if why:
            note = f"abstained: {why}"
        elif self.settings.abstain.abstain_below is None:
            note = "off (abstain_below=None): the model is called"
        else:
            note = "the context may hold the answer: the model is called"
        ms = round((time.perf_counter() - t0) * 1000, 2)
        return why, StageTrace(self.name, n, 0 if why else n, tokens, 0 if why else tokens, ms, note=note)
