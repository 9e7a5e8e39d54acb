"""The one place where the stages are wired together.

Example:
    >>> from rag import Pipeline, Settings
    >>> p = Pipeline.from_settings(Settings(store_path="/tmp/leanrag-doc"))
    >>> report = p.ingest(["corpus/"])
    >>> ctx = p.retrieve("What is the usual constant in reciprocal rank fusion?")
    >>> ctx.tokens <= p.settings.prune.token_budget
    True
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from pydantic import SecretStr

from rag import telemetry
from rag.answer.abstain import Abstain
from rag.answer.factory import Answerer, make_answerer, resolve_answerer
from rag.answer.prompt import NO_ANSWER
from rag.answer.stream import AnswerStream
from rag.errors import InputError
from rag.index.embedder import Encoder, make_embedder
from rag.index.store import Store, open_store
from rag.ingest.ingest import ingest as run_ingest
from rag.ingest.ingest import ingest_documents
from rag.ingest.parallel import ingest_in_workers
from rag.language import using
from rag.llm.config import make_endpoint
from rag.llm.endpoint import Endpoint
from rag.memo import keeping
from rag.retrieve.candidates import LexicalCache
from rag.retrieve.evidence import EvidenceSource
from rag.retrieve.filters import check_filter
from rag.retrieve.llm_rerank import LLMReranker
from rag.retrieve.passages import PassageInput
from rag.retrieve.rerank import Reranker, make_reranker
from rag.retrieve.stages import Candidates, Hop, Load, Pool, Profile, Prune, Rerank, SentenceScores, Stage, run_stages
from rag.settings import ANSWER_FIELDS, BUILT_WITH, CLIENT_FIELDS, Settings
from rag.text import STEMMED, text_processing
from rag.tokens import CachedCounter
from rag.types import Answer, Candidate, Context, Document, IngestReport, Trace, Usage

Ranked = Pool  # the pool after ranking: what ``rank`` returns and ``select`` takes


class Pipeline:
    def __init__(self, settings: Settings, *, embedder: Encoder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._store: Store | None = None
        self._rerankers: dict[tuple[str, str], tuple[Reranker, str | None]] = {}
        self._lock = threading.RLock()  # re-entrant: the lexical cache asks for the store
        # the embedder loads on first use, so the evidence source is handed a way to reach it, not the model
        self._evidence = EvidenceSource(lambda texts: self.embedder.encode(texts),
                                        max_mb=settings.candidates.evidence_cache_mb,
                                        caller_mb=settings.candidates.caller_cache_mb)
        self._lexicals: dict[tuple[float, float], LexicalCache] = {}  # by BM25 parameters
        self._counters: dict[str, CachedCounter] = {}  # by tokenizer
        self._answerers: OrderedDict[str, Answerer] = OrderedDict()  # least recently used first
        self._endpoints: OrderedDict[str, Endpoint] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> Pipeline:
        settings = settings or Settings()
        if overrides:
            settings = settings.replace(**overrides)
        return cls(settings)

    # ---- components (lazy, shared read-only) ---------------------------------------------
    @cached_property
    def embedder(self) -> Encoder:
        return self._embedder if self._embedder is not None else make_embedder(self.settings)

    def store(self, *, create: bool = False) -> Store:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings, self.embedder.dimension, create=create)
            return self._store

    def close(self) -> None:
        """Give up the store's serving mark, if a store was opened (a service calls this as it stops)."""
        with self._lock:
            if self._store is not None:
                self._store.release_serving()

    def _lexical(self, s: Settings) -> LexicalCache:
        key = (s.candidates.bm25_k1, s.candidates.bm25_b)
        with self._lock:
            cache = self._lexicals.get(key)
            if cache is None:
                cache = self._lexicals[key] = LexicalCache(self.store(), k1=s.candidates.bm25_k1, b=s.candidates.bm25_b,
                                                           mirror_mb=self.settings.candidates.vector_mirror_mb)
            return cache

    def _reranker(self, s: Settings) -> tuple[Reranker, str | None]:
        if s.rerank.reranker == "llm":  # shares the answerer's client, so it is cached with it
            return self._llm_reranker(s), None
        key = (s.rerank.reranker, s.rerank.cross_encoder_model)
        with self._lock:
            if key not in self._rerankers:
                self._rerankers[key] = make_reranker(s.rerank.reranker,
                                                     cross_encoder_model=s.rerank.cross_encoder_model,
                                                     device=s.ingest.device)
            return self._rerankers[key]

    def _llm_reranker(self, s: Settings) -> LLMReranker:
        endpoint = self._endpoint(s)
        if endpoint is None:
            raise InputError("the llm reranker needs a model endpoint: set answerer to openai (RAG_LLM_BASE_URL "
                             "and/or OPENAI_API_KEY) or local (rag llm serve)")
        return LLMReranker(endpoint, depth=s.rerank.llm_rerank_depth, batch=s.rerank.llm_rerank_batch)

    def _endpoint(self, s: Settings, key: str | None = None) -> Endpoint | None:
        """The model endpoint of ``s`` (None for the extractive answerer), one per answer key (``key``, when
        the caller has it): the answerer and the LLM reranker share its client."""
        kind = resolve_answerer(s)
        if kind == "extractive":
            return None
        return _lru(self._lock, self._endpoints, key or _answer_key(s),
                    lambda: make_endpoint(s, kind, count=self._counter(s)))

    def _answerer(self, s: Settings) -> Answerer:
        key = _answer_key(s)  # once: a digest of the settings, on every answer
        endpoint = self._endpoint(s, key)
        return _lru(self._lock, self._answerers, key,
                    lambda: make_answerer(s, count=self._counter(s), endpoint=endpoint))

    def _settings(self, overrides: dict[str, Any], settings: Settings | None = None) -> Settings:
        # ``settings``: already resolved by the caller (the service validates a request's once)
        fixed = sorted(k for k in overrides if k in BUILT_WITH and overrides[k] != self.settings.value(k))
        if fixed:
            raise InputError(f"{', '.join(fixed)} cannot change per call: the pipeline was built with "
                             f"{', '.join(f'{k}={self.settings.value(k)!r}' for k in fixed)}; build another "
                             "one (Pipeline.from_settings(..., " + ", ".join(f"{k}=..." for k in fixed) + "))")
        base = settings or self.settings
        return base.replace(**overrides) if overrides else base

    def warm_up(self) -> None:
        """Load everything a first question would: the embedder, the store, the lexical index, the
        reranker, the tokenizer and the answerer (a service calls this once before it says it is ready)."""
        s = self.settings
        self.embedder.encode(["warm up"])
        self.store(create=True)
        with using(s.language):
            self._lexical(s).get()  # and the vector mirror
        if s.rerank.reranker != "llm":
            self._reranker(s)
        self._counter(s)("warm up")
        self._answerer(s)

    # ---- ingest ----------------------------------------------------------------------------
    def ingest(self, paths: Iterable[str | Path], *, progress: bool = False, workers: int = 1) -> IngestReport:
        """Bring the store in line with ``paths`` (files and folders): add, update, remove. ``workers`` > 1
        shares the files out to that many processes (a Chroma server only)."""
        paths = list(paths)

        def run() -> IngestReport:
            with using(self.settings.language):  # sentence ends and token counts stored per chunk
                return run_ingest(paths, settings=self.settings, embedder=self.embedder,
                                  store=self.store(create=True), progress=progress)

        try:
            report = (ingest_in_workers(paths, settings=self.settings, workers=workers, finish=run)
                      if workers > 1 else run())
        finally:
            self._written()
        with using(self.settings.language):  # a large store's BM25 index is saved now, not at the first question
            self._lexical(self.settings).prepare()
        return report

    def ingest_documents(self, documents: Sequence[Document]) -> IngestReport:
        """Add or update documents given as text; each one replaces its earlier version."""
        try:
            with using(self.settings.language):
                return ingest_documents(documents, settings=self.settings, embedder=self.embedder,
                                        store=self.store(create=True))
        finally:
            self._written()

    def _written(self) -> None:
        with self._lock:
            caches = list(self._lexicals.values())
        for cache in caches:
            cache.invalidate()

    # ---- retrieval -------------------------------------------------------------------------
    def search(self, question: str, k: int = 10, *, where: dict | None = None,
               passages: Sequence[PassageInput] | None = None, settings: Settings | None = None,
               **overrides: Any) -> list[Candidate]:
        """Candidates ranked after reranking, before pruning (for retrieval metrics)."""
        s = self._settings(overrides, settings)
        if s.candidates.candidate_depth < k:
            s = s.replace(candidate_depth=k)
        with using(s.language), keeping(passages is None):
            return self._rank(question, s, where, passages, Trace()).candidates[:k]

    def retrieve(self, question: str, *, where: dict | None = None,
                 passages: Sequence[PassageInput] | None = None, settings: Settings | None = None,
                 **overrides: Any) -> Context:
        """The lean context: few passages, within the token budget, with a trace of every decision."""
        s = self._settings(overrides, settings)
        with telemetry.span("leanrag.retrieve", **{"leanrag.caller_passages": passages is not None}) as sp, \
                using(s.language), keeping(passages is None):
            trace = Trace()
            ctx = self._select(question, self._rank(question, s, where, passages, trace), s, trace)
            sp.set_attributes({"leanrag.passages": len(ctx.passages), "leanrag.tokens": ctx.tokens,
                               "leanrag.stop_reason": ctx.trace.stop_reason})
        return ctx

    def rank(self, question: str, *, where: dict | None = None, passages: Sequence[PassageInput] | None = None,
             settings: Settings | None = None, trace: Trace | None = None) -> Ranked:
        """The first half of ``retrieve``: candidates, reranking and the hop."""
        s = self._settings({}, settings)
        with using(s.language), keeping(passages is None):
            return self._rank(question, s, where, passages, trace if trace is not None else Trace())

    def select(self, question: str, ranked: Ranked, *, settings: Settings | None = None,
               trace: Trace | None = None) -> Context:
        """The second half of ``retrieve``: sentence scores, then pruning to the lean context (under the
        multi-hop profile when the hop linked passages). Selecting one ``Ranked`` under several settings is
        how the tuning scripts sweep exactly the path that ships."""
        s = self._settings({}, settings)
        with using(s.language):
            return self._select(question, ranked, s, trace if trace is not None else Trace())

    def _select(self, question: str, r: Pool, s: Settings, trace: Trace) -> Context:
        count = self._counter(s)
        stages: list[Stage] = [SentenceScores(), Profile(s), Prune(s, count)]
        out = run_stages(stages, replace(r, question=question), trace)
        kept = out.kept or []
        ctx = Context(question, kept, 0, trace, pool=out.candidates)
        ctx.tokens = count(ctx.text) if kept else 0
        return ctx

    # ---- answering -------------------------------------------------------------------------
    @overload
    def answer(self, question: str, *, where: dict | None = None, passages: Sequence[PassageInput] | None = None,
               stream: Literal[False] = False, settings: Settings | None = None, **overrides: Any) -> Answer: ...

    @overload
    def answer(self, question: str, *, where: dict | None = None, passages: Sequence[PassageInput] | None = None,
               stream: Literal[True], settings: Settings | None = None, **overrides: Any) -> AnswerStream: ...

    def answer(self, question: str, *, where: dict | None = None, passages: Sequence[PassageInput] | None = None,
               stream: bool = False, settings: Settings | None = None, **overrides: Any) -> Answer | AnswerStream:
        """The lean context, answered. ``stream=True`` returns an AnswerStream (text as it arrives)."""
        t0 = time.perf_counter()
        s = self._settings(overrides, settings)
        # one parent for the retrieval and the answer, so a tracing backend shows them as one question
        with telemetry.span("leanrag.question", **{"leanrag.stream": stream}):
            ctx = self.retrieve(question, where=where, passages=passages, settings=s)
            if stream:
                return self.answer_context(question, ctx, stream=True, started=t0, settings=s)
            return self.answer_context(question, ctx, started=t0, settings=s)

    @overload
    def answer_context(self, question: str, ctx: Context, *, stream: Literal[False] = False,
                       started: float | None = None, settings: Settings | None = None, **overrides: Any) -> Answer: ...

    @overload
    def answer_context(self, question: str, ctx: Context, *, stream: Literal[True], started: float | None = None,
                       settings: Settings | None = None, **overrides: Any) -> AnswerStream: ...

    def answer_context(self, question: str, ctx: Context, *, stream: bool = False, started: float | None = None,
                       settings: Settings | None = None, **overrides: Any) -> Answer | AnswerStream:
        """Answer from a context already retrieved (experiments reuse one context for a cache key)."""
        s = self._settings(overrides, settings)
        t0 = started if started is not None else time.perf_counter()
        retrieve_ms = (time.perf_counter() - t0) * 1000 if started is not None else 0.0
        answerer = self._answerer(s)
        started_ns = time.time_ns()
        parent = telemetry.current()  # a streamed answer ends after the caller's span has: keep its parent

        def finish(ans: Answer) -> Answer:
            telemetry.answered(ans, started_ns, parent)
            ans.timings = {"retrieve_ms": round(retrieve_ms, 2),
                           "first_token_ms": round(retrieve_ms + ans.timings.get("first_token_ms", 0.0), 2),
                           "answer_ms": ans.timings.get("answer_ms", 0.0),
                           "total_ms": round((time.perf_counter() - t0) * 1000, 2)}
            return ans

        with using(s.language):
            why, line = Abstain(s).run(ctx)
        ctx.trace.stages.append(line)
        if why:  # no model call is paid for a context that cannot hold the answer
            ctx.trace.warnings.append(f"{why}: the model was not called")
            ctx.trace.abstained = True
            empty = Answer(question, NO_ANSWER, [], ctx, Usage(), 0.0, {}, answerer.name,
                           finish_reason="abstained" if ctx.passages else "empty", abstained=True)
            return AnswerStream(iter([NO_ANSWER, empty]), finish) if stream else finish(empty)
        if stream:
            return AnswerStream(answerer.stream(question, ctx), finish)
        with using(s.language):
            return finish(answerer.answer(question, ctx))

    def _load(self, s: Settings, *, store: bool) -> Load:
        """What the first question of a process loads (the embedding model; the store with its BM25 index
        and vector mirror): a stage of its own, so the candidates' time is their own."""
        with self._lock:
            cold_store = store and (s.candidates.bm25_k1, s.candidates.bm25_b) not in self._lexicals

        def load_embedder() -> str:
            self.embedder.load()
            return self.embedder.name

        return Load(self.embedder.loaded, load_embedder, (lambda: self._lexical(s).get())
                    if cold_store else None)

    def _counter(self, s: Settings) -> CachedCounter:
        with self._lock:
            counter = self._counters.get(s.tokenizer)
            if counter is None:
                counter = self._counters[s.tokenizer] = CachedCounter(s.tokenizer)
            return counter

    def _rank(self, question: str, s: Settings, where: dict | None,
              passages: Sequence[PassageInput] | None, trace: Trace) -> Pool:
        if not question or not question.strip():
            raise InputError("question is empty")
        if where:
            check_filter(where)
        if text_processing() != STEMMED:
            trace.warnings.append("lexical terms are unstemmed (PyStemmer missing): BM25 matches fewer forms")
        stored = passages is None
        load = self._load(s, store=stored)
        reranker, warning = self._reranker(s)
        stages: list[Stage] = [
            load,
            Candidates(s, lambda texts: self.embedder.encode(texts), self._evidence, self._counter(s),
                       passages=passages, store=self.store if stored else None,
                       lexical=(lambda: self._lexical(s)) if stored else None, where=where,
                       mirror_off=self.settings.candidates.vector_mirror_mb == 0),
            Rerank(reranker, trace, warning),
            Hop(s),
        ]
        return run_stages(stages, Pool(question), trace)

    @property
    def vector_cache_bytes(self) -> int:
        """Bytes of evidence vectors this pipeline keeps in memory (the mirror aside)."""
        return self._evidence.nbytes

    def cache_stats(self) -> dict[str, tuple[int, int]]:
        """(hits, lookups) per in-memory cache since start: "mirror" (stored chunks' vectors read from the
        mirror), "evidence" (the vector cache behind it), "tokens" (token counts)."""
        out = self._evidence.stats()
        with self._lock:
            counters = list(self._counters.values())
        lookups = sum(c.lookups for c in counters)
        out["tokens"] = (lookups - sum(c.misses for c in counters), lookups)
        return out

ANSWERERS_KEPT = 16
T = TypeVar("T")


def _lru(lock: AbstractContextManager[Any], cache: OrderedDict[str, T], key: str, make: Callable[[], T]) -> T:
    """``cache[key]``, made on a miss; per-call parameters must not grow memory without bound, so at most
    ``ANSWERERS_KEPT`` stay, the least recently used going first."""
    with lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    made = make()  # outside the lock: making one may take it (token counters)
    with lock:
        cache[key] = made
        while len(cache) > ANSWERERS_KEPT:
            cache.popitem(last=False)
        return cache[key]


def _answer_key(s: Settings) -> str:
    """What makes two answerers differ. Secrets enter as digests: ``model_dump_json`` prints a SecretStr as
    stars, so a changed key would otherwise reuse the answerer (and client) of the old one."""
    data = s.flat(sorted(ANSWER_FIELDS | CLIENT_FIELDS))
    for name, value in data.items():
        if isinstance(value, SecretStr):
            data[name] = hashlib.blake2b(value.get_secret_value().encode(), digest_size=16).hexdigest()
    return json.dumps(data, sort_keys=True, default=str)
