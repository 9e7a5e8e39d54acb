"""The learned scorers' model: probabilities from standardised features, and weights files that refuse to
be read by the wrong features or the wrong terms."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.logistic import Logistic, read_model
from rag.text import text_processing


def test_probabilities_are_the_sigmoid_of_standardised_features() -> None:
    m = Logistic(("a", "b"), [1.0, 0.0], [2.0, 1.0], [1.0, -1.0], 0.5)
    x = np.array([[3.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    want = 1 / (1 + np.exp(-np.array([(3 - 1) / 2 - 1 + 0.5, 0.5])))
    assert m(x) == pytest.approx(want, abs=1e-6)
    assert m(np.zeros((0, 2), dtype=np.float32)).shape == (0,)
    assert float(m(np.array([[1e9, -1e9]], dtype=np.float32))[0]) == pytest.approx(1.0)  # clipped, no overflow


def write(tmp_path: Path, **model: object) -> Path:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"text_processing": text_processing(),
                                "m": {"features": ["a", "b"], "mean": [0, 0], "scale": [1, 1], "coef": [1, 1],
                                      "intercept": 0, **model}}))
    return path


def test_a_weights_file_is_read_only_by_its_own_features_and_terms(tmp_path: Path) -> None:
    path = write(tmp_path)
    assert read_model(path, "m", ("a", "b"), "train_x").names == ("a", "b")
    with pytest.raises(RuntimeError, match="other features; retrain it with scripts/train_x.py"):
        read_model(path, "m", ("a", "c"), "train_x")
    with pytest.raises(RuntimeError, match="no other model"):
        read_model(path, "other", ("a", "b"), "train_x")
    data = json.loads(path.read_text())
    data["text_processing"] = "something-else"
    path.write_text(json.dumps(data))
    with pytest.raises(RuntimeError, match="trained on something-else terms"):
        read_model(path, "m", ("a", "b"), "train_x")
