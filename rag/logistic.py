"""The learned scorers' model: a standardised logistic regression read from a JSON weights file. The
reranker's and sentence pruner's models (``retrieve/weights.json``) and the answer path's abstention model
(``answer/abstain_weights.json``) are all of this form."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rag.text import text_processing


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


def read_model(path: Path, key: str, features: tuple[str, ...], script: str) -> Logistic:
    """Model ``key`` of the weights file at ``path``, refused when it was trained on other features or on
    other terms than this install makes (which would lower quality without a word)."""
    data = json.loads(path.read_text())
    trained, now = data.get("text_processing"), text_processing()
    if trained != now:
        raise RuntimeError(f"{path}: the learned scorers were trained on {trained} terms but this install "
                           f"produces {now} terms, which would lower quality without a word. Install the "
                           f"declared dependencies (pip install PyStemmer) or retrain with scripts/{script}.py")
    m = data.get(key)
    if m is None:
        raise RuntimeError(f"{path}: no {key} model; train it with scripts/{script}.py")
    if tuple(m["features"]) != features:
        raise RuntimeError(f"{path}: the {key} model was trained on other features; retrain it with "
                           f"scripts/{script}.py")
    return Logistic(features, m["mean"], m["scale"], m["coef"], m["intercept"])
