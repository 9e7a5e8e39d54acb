"""The embedding model's encoding (the packaged all-MiniLM-L6-v2): each text once, batches of similar
length within a padded-token budget, and the very vectors ``SentenceTransformer.encode`` gives."""
from __future__ import annotations

import numpy as np

from rag.index import embedder as embedder_module
from rag.index.embedder import PADDED_TOKENS, Embedder


def test_a_repeated_text_is_encoded_once_and_every_row_is_returned(embedder: Embedder, monkeypatch) -> None:
    seen: list[list[str]] = []
    forward = embedder._forward

    def spy(texts: list[str]) -> np.ndarray:
        seen.append(list(texts))
        return forward(texts)

    monkeypatch.setattr(embedder, "_forward", spy)
    texts = ["Aspirin lowers fever.", "Paris is in France.", "Aspirin lowers fever."]
    rows = embedder.encode(texts)
    assert sorted(t for batch in seen for t in batch) == ["Aspirin lowers fever.", "Paris is in France."]
    assert rows.shape == (3, embedder.dimension)
    assert np.array_equal(rows[0], rows[2])
    assert float(rows[0] @ rows[1]) < 0.5
    alone = embedder.encode(["Paris is in France."])[0]
    assert float(alone @ rows[1]) > 0.9999
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


def test_batches_group_similar_lengths_and_give_the_batch_vectors(embedder: Embedder, monkeypatch) -> None:
    """Short sentences and long paragraphs, mixed: no batch pads past the budget, every row is the vector
    ``SentenceTransformer.encode`` gives for that text (also past the model's input limit, truncated alike)."""
    long = " ".join(["Aspirin inhibits cyclooxygenase and lowers fever in adults."] * 60)
    paragraph = " ".join(["Vitamin D is made in the skin under sunlight and helps hold calcium."] * 6)
    texts = [f"Sentence {i} about fevers." for i in range(40)] + [paragraph + f" {i}" for i in range(9)] + \
            [long, "x", "Ünïcödé — dashes, and digits 1984."]
    order = list(np.random.default_rng(3).permutation(len(texts)))
    texts = [texts[i] for i in order]
    want = embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    batches: list[list[str]] = []
    forward = embedder._forward
    monkeypatch.setattr(embedder, "_forward", lambda b: batches.append(b) or forward(b))
    got = embedder.encode(texts, batch_size=16)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.allclose(got, want, atol=1e-5)
    assert sorted(t for b in batches for t in b) == sorted(texts) and len(batches) > 3
    tok = embedder.tokenizer
    for b in batches:
        padded = max(len(tok(t, truncation=True, max_length=embedder.model.max_seq_length)["input_ids"]) for t in b)
        assert len(b) <= 16 and (len(b) == 1 or padded * len(b) <= PADDED_TOKENS)


def test_one_text_is_one_forward_pass(embedder: Embedder, monkeypatch) -> None:
    monkeypatch.setattr(embedder_module.Embedder, "_batches", lambda *a: (_ for _ in ()).throw(AssertionError))
    assert embedder.encode(["a query"]).shape == (1, embedder.dimension)
    twice = embedder.encode(["a query", "a query"])
    assert twice.shape == (2, embedder.dimension) and np.array_equal(twice[0], twice[1])


def _eager(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """The model's own modules, without the graph."""
    import torch

    with torch.inference_mode():
        features = embedder.model.preprocess(texts)
        vectors = torch.nn.functional.normalize(embedder.model(features)["sentence_embedding"], p=2, dim=1)
    return vectors.numpy()


def test_loading_traces_the_model_and_the_graph_gives_the_models_vectors(embedder: Embedder, monkeypatch) -> None:
    """The packaged model runs as a TorchScript graph once loaded, and every encoding through it (one text,
    a padded batch, a text past the input limit) is the eager pass's vectors."""
    embedder.load()
    traced = embedder._traced
    assert traced is not None and "input_ids" in traced.keys
    calls: list[int] = []
    graph = traced.graph
    monkeypatch.setattr(traced, "graph", lambda *t: calls.append(len(t)) or graph(*t))
    texts = ["a query about fevers", "x", " ".join(["Aspirin inhibits cyclooxygenase."] * 80), "Paris is in France."]
    for batch in ([texts[0]], texts):
        assert np.allclose(embedder.encode(batch), _eager(embedder, batch), atol=1e-5)
    assert len(calls) >= 2


def test_features_the_graph_was_not_traced_with_take_the_eager_path(embedder: Embedder) -> None:
    embedder.load()
    traced = embedder._traced
    assert traced is not None
    features = embedder.model.preprocess(["a query"])
    assert traced(features) is not None
    assert traced({**features, "extra": 1}) is None
    if traced.fixed:  # sentence-transformers' non-tensor features (``modality``) are fixed at tracing
        key = next(iter(traced.fixed))
        assert traced({**features, key: "something else"}) is None


def test_a_model_that_cannot_be_traced_encodes_eagerly(monkeypatch) -> None:
    def refuse(model: object) -> None:
        raise ValueError("the traced pass gives other vectors than the model's own")

    monkeypatch.setattr(embedder_module, "_trace", refuse)
    fresh = Embedder("sentence-transformers/all-MiniLM-L6-v2")
    fresh.load()
    assert fresh._traced is None
    texts = ["a query about fevers", "Paris is in France."]
    assert np.allclose(fresh.encode(texts), _eager(fresh, texts), atol=1e-6)


def test_threads_encoding_side_by_side_get_the_vectors_one_thread_gets(embedder: Embedder) -> None:
    """The graph runs without Python's lock, so four threads really encode at once; each gets its own rows."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"Question {i}: who wrote the report on fever number {i * 7}?" for i in range(24)]
    alone = [embedder.encode([t])[0] for t in texts]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda t: embedder.encode([t])[0], texts))
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(alone, together, strict=True))


def test_tracing_the_model_prints_nothing(capfd) -> None:
    """Tracing reads every attribute of the model's modules, and the libraries warn of deprecated ones."""
    fresh = Embedder("sentence-transformers/all-MiniLM-L6-v2")
    fresh.load()
    assert fresh._traced is not None
    err = capfd.readouterr().err
    assert "deprecated" not in err and "loss_type" not in err, err
