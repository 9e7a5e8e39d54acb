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


def test_one_text_takes_the_module_path_and_gets_the_batch_vector(embedder: Embedder, monkeypatch) -> None:
    """A query is encoded through the model's modules directly, not ``SentenceTransformer.encode``: its
    vector must be the one a batch gives, also for a text longer than the model reads (truncated alike)."""
    texts = ["Does vitamin D lower the risk of fractures?", "x", "Ünïcödé — dashes, and digits 1984.",
             " ".join(["Aspirin inhibits cyclooxygenase and lowers fever in adults."] * 60)]
    batch = embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    monkeypatch.setattr(embedder.model, "encode", lambda *a, **k: (_ for _ in ()).throw(AssertionError("batch path")))
    for text, want in zip(texts, batch, strict=True):
        got = embedder.encode([text])
        assert got.shape == (1, embedder.dimension) and got.dtype == np.float32
        assert float(got[0] @ want) > 0.99999
    twice = embedder.encode([texts[0], texts[0]])
    assert twice.shape == (2, embedder.dimension) and np.array_equal(twice[0], twice[1])
