"""The embedding model's batch encoding (the packaged all-MiniLM-L6-v2)."""
from __future__ import annotations

import numpy as np

from rag.index.embedder import Embedder


def test_a_repeated_text_is_encoded_once_and_every_row_is_returned(embedder: Embedder, monkeypatch) -> None:
    seen: list[list[str]] = []
    encode = embedder.model.encode

    def spy(texts, **kw):  # noqa: ANN001, ANN003, ANN202 - records what reaches the model
        seen.append(list(texts))
        return encode(texts, **kw)

    monkeypatch.setattr(embedder.model, "encode", spy)
    texts = ["Aspirin lowers fever.", "Paris is in France.", "Aspirin lowers fever."]
    rows = embedder.encode(texts)
    assert seen == [["Aspirin lowers fever.", "Paris is in France."]]
    assert rows.shape == (3, embedder.dimension)
    assert np.array_equal(rows[0], rows[2])
    assert float(rows[0] @ rows[1]) < 0.5
    alone = embedder.encode(["Paris is in France."])[0]
    assert float(alone @ rows[1]) > 0.9999
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
