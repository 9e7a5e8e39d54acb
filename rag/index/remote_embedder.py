"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, TEI, vLLM, Ollama, llama.cpp):
the way to send a large corpus's encoding to a GPU server instead of this machine's CPU.

Texts are counted and cut with tiktoken's ``cl100k_base`` (the encoding of OpenAI's embedding models; for
other servers' models a close estimate, which is why ``embedding_max_tokens`` leaves room), sent in batches
with several requests in flight, retried through the shared connection (429, 5xx, timeouts), and returned
as unit-length float32 rows like the local encoder's.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

import numpy as np
import openai

from rag.llm.connection import Connection, EndpointConfig
from rag.llm.errors import LLMError
from rag.tokens import encoding

# OpenAI takes at most 2,048 inputs per request.
_MOST_INPUTS = 2048


class RemoteEmbedder:
    """``encode``, ``dimension``, ``max_tokens`` and ``count_tokens`` as ``Embedder`` has them, computed by a
    server.

    Example:
        >>> e = RemoteEmbedder(EndpointConfig("http://127.0.0.1:8081/v1", "bge-small-en-v1.5", None,
        ...                                   role="embedding"))
        >>> e.encode(["lean context"]).shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(self, config: EndpointConfig, *, dimensions: int | None = None, max_tokens: int = 512,
                 batch_size: int = 64, concurrency: int = 4) -> None:
        self.name = config.model
        self.connection = Connection(config)
        self.dimensions = dimensions
        self._max_tokens = max_tokens
        self.batch_size = min(batch_size, _MOST_INPUTS)
        self.concurrency = concurrency
        self.enc = encoding("cl100k_base")
        self._lock = threading.Lock()
        self.requests = 0  # sent, retries included (for benchmarks and tests)

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @cached_property
    def dimension(self) -> int:
        """The configured size, else the size of one probe's vector (the store's guard needs it up front)."""
        return self.dimensions or int(self.encode(["dimension probe"]).shape[1])

    loaded = True  # nothing to load: the server holds the model

    def load(self) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return len(self.enc.encode(text, disallowed_special=()))

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        """Unit-length float32 rows, one per text; a text that comes twice is sent once."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        unique = list(dict.fromkeys(texts))
        size = min(batch_size or self.batch_size, _MOST_INPUTS)
        batches = [unique[i:i + size] for i in range(0, len(unique), size)]
        if len(batches) == 1 or self.concurrency == 1:
            parts = [self._batch(b) for b in batches]
        else:
            with ThreadPoolExecutor(min(self.concurrency, len(batches))) as pool:
                parts = list(pool.map(self._batch, batches))
        vectors = np.concatenate(parts)
        if len(unique) == len(texts):
            return vectors
        row = {t: i for i, t in enumerate(unique)}
        return vectors[[row[t] for t in texts]]

    def _fit(self, text: str) -> str:
        """The text cut to the model's input limit (a server refuses, or silently cuts, what is longer); an
        empty text becomes one space, as OpenAI refuses empty inputs."""
        tokens = self.enc.encode(text, disallowed_special=())
        if len(tokens) > self._max_tokens:
            return self.enc.decode(tokens[:self._max_tokens])
        return text or " "

    def _batch(self, texts: list[str]) -> np.ndarray:
        inputs = [self._fit(t) for t in texts]
        reply, attempts = self.connection.call(lambda: self.connection.client.embeddings.create(
            model=self.name, input=inputs, encoding_format="float",
            dimensions=self.dimensions if self.dimensions else openai.omit))
        with self._lock:
            self.requests += attempts
        rows = sorted(reply.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise LLMError(f"the embedding endpoint returned {len(rows)} vectors for {len(texts)} texts")
        vectors = np.asarray([r.embedding for r in rows], dtype=np.float32)
        if self.dimensions and vectors.shape[1] != self.dimensions:
            raise LLMError(f"the embedding endpoint returned vectors of size {vectors.shape[1]}, not the "
                           f"{self.dimensions} of embedding_dimensions")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)
