"""The retrieval path as a list of stages with one contract.

A stage is built for one call from its own config and has a ``name`` and ``run(pool) -> Step``: it
returns a new pool (the one it was given stays as it was) and its lines of the trace. ``run_stages`` is the
only loop: it times each stage, opens its telemetry span and appends its lines, so no stage touches the
caller's trace. ``Pipeline.rank`` runs load, candidates, rerank and hop; ``Pipeline.select`` runs sentence
scores, the profile (which pruning the question gets, a line of its own) and prune. Scripts that tune
retrieval run the same lists.
"""
from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from rag import telemetry
from rag.index.lexical import LexicalIndex
from rag.index.store import Store
from rag.retrieve.candidates import FusionConfig, LexicalCache, first_stage
from rag.retrieve.evidence import EvidenceSource
from rag.retrieve.features import Evidence, Idf
from rag.retrieve.hop import cut_from_documents, multi_hop_links, named_leads, openings_first, second_hop
from rag.retrieve.passages import PassageInput, to_candidates
from rag.retrieve.profile import cover_terms, multi_hop_settings
from rag.retrieve.prune import Pruner
from rag.retrieve.rerank import Reranker, score_sentences
from rag.settings import Settings
from rag.text import embed_text
from rag.tokens import CachedCounter
from rag.types import Candidate, Passage, StageTrace, Trace


@dataclass(frozen=True)
class Pool:
    """What flows from stage to stage. ``Pipeline.rank`` returns it after the hop; tuning scripts keep it
    and select from it under many settings, exactly as ``retrieve`` does."""

    question: str
    candidates: list[Candidate] = field(default_factory=list)
    evidence: dict[str, Evidence] = field(default_factory=dict)
    qvec: np.ndarray | None = None
    idf: Idf | None = None
    tokens: int = 0  # the first stage's pool, in tokens
    linked: list[str] = field(default_factory=list)  # passages a multi-hop question reaches by name
    leads: dict[str, str | None] = field(default_factory=dict)  # passages a name raised -> who names them
    profile: Settings | None = None  # the pruning the profile chose (None: as the call was configured)
    kept: list[Passage] | None = None  # the lean context, once pruned

    def scored(self) -> tuple[np.ndarray, Idf]:
        """The question's vector and term weights, which the candidates stage sets."""
        if self.qvec is None or self.idf is None:
            raise RuntimeError("the candidates stage has not run on this pool")
        return self.qvec, self.idf

    @property
    def vectors(self) -> dict[str, np.ndarray]:
        return {cid: ev.vector for cid, ev in self.evidence.items()}


@dataclass(frozen=True)
class Step:
    """A stage's result: its output and its lines of the trace (none when it had nothing to do; pruning
    has one per sub-step)."""

    pool: Pool
    lines: list[StageTrace] = field(default_factory=list)
    warnings: tuple[str, ...] = ()
    stop_reason: str = ""


class Stage(Protocol):
    name: str

    def run(self, pool: Pool) -> Step: ...


def line(name: str, n_in: int, n_out: int, tokens_in: int, tokens_out: int, note: str = "") -> StageTrace:
    return StageTrace(name, n_in, n_out, tokens_in, tokens_out, 0.0, note=note)


def run_stages(stages: Sequence[Stage], pool: Pool, trace: Trace) -> Pool:
    """Run ``stages`` in order into ``trace``. A one-line stage's milliseconds are its ``run``; pruning times
    its own sub-steps."""
    for stage in stages:
        t0 = time.perf_counter()
        with telemetry.span(f"leanrag.{stage.name}") as sp:
            step = stage.run(pool)
            ms = round((time.perf_counter() - t0) * 1000, 2)
            if len(step.lines) == 1:
                step.lines[0].ms = ms
                telemetry.stage_attributes(sp, step.lines[0])
            else:
                telemetry.prune_events(sp, step.lines)
        trace.stages.extend(step.lines)
        trace.warnings.extend(step.warnings)
        if step.stop_reason:
            trace.stop_reason = step.stop_reason
        pool = step.pool
    return pool


# ---- ranking ---------------------------------------------------------------------------------
@dataclass
class Load:
    """What the first question of a process loads, timed apart so the candidates' time is their own."""

    embedder_loaded: bool
    load_embedder: Callable[[], str]  # loads it and returns its name
    load_store: Callable[[], object] | None  # None: loaded already, or not needed (caller passages)
    name: str = "load"

    def run(self, pool: Pool) -> Step:
        if self.embedder_loaded and self.load_store is None:
            return Step(pool)
        notes = []
        if not self.embedder_loaded:
            t0 = time.perf_counter()
            model = self.load_embedder()
            notes.append(f"embedding model {model} {(time.perf_counter() - t0) * 1000:.0f} ms")
        if self.load_store is not None:
            t0 = time.perf_counter()
            self.load_store()
            notes.append(f"store and its BM25 index {(time.perf_counter() - t0) * 1000:.0f} ms")
        return Step(pool, [line(self.name, 0, 0, 0, 0, "; ".join(notes))])


@dataclass
class Candidates:
    """The first stage: the caller's passages, or dense, sentence and BM25 search over the store, fused."""

    settings: Settings
    encode: Callable[[list[str]], np.ndarray]
    evidence: EvidenceSource
    count: CachedCounter
    passages: Sequence[PassageInput] | None = None
    store: Callable[[], Store] | None = None
    lexical: Callable[[], LexicalCache] | None = None
    where: dict | None = None
    mirror_off: bool = False
    name: str = "candidates"

    def run(self, pool: Pool) -> Step:
        s = self.settings
        qvec = self.encode([pool.question])[0]
        if self.passages is not None:
            candidates = to_candidates(self.passages)
            evidence = self.evidence.computed(candidates)
            idf = Idf.from_texts([embed_text(c.title, c.text) for c in candidates])
            note = "passages supplied by the caller"
        else:
            assert self.store is not None and self.lexical is not None
            store, lexical = self.store(), self.lexical()  # the lexical cache also holds the vector mirror
            candidates = first_stage(pool.question, qvec, store, lexical, FusionConfig.of(s), where=self.where)
            evidence = self.evidence.stored(candidates, store, lexical.snapshot().vectors)
            idf = idf_of(lexical) if s.candidates.lexical else Idf.from_texts([c.text for c in candidates])
            note = self._route(lexical)
        for c in candidates:  # the pool's size: each passage counted once, then cached
            self.count.learn_stored(c.text, evidence[c.id].spans, c.counts)
        tokens = sum(self.count(c.text) for c in candidates)
        out = replace(pool, candidates=candidates, evidence=evidence, qvec=qvec, idf=idf, tokens=tokens)
        return Step(out, [line(self.name, len(candidates), len(candidates), tokens, tokens, note)])

    def _route(self, lexical: LexicalCache) -> str:
        c = self.settings.candidates
        note = "rrf fusion of " + ", ".join(
            n for n, on in (("dense", c.dense), ("sentences", c.sentence_search), ("bm25", c.lexical)) if on)
        if c.dense or c.sentence_search:  # which vector search answered: it decides how latency scales
            mirrored = lexical.snapshot().vectors is not None and not self.where
            why = ("a metadata filter" if self.where else "mirror off" if self.mirror_off
                   else "store above vector_mirror_mb")
            note += "; vectors: in-memory mirror, exact" if mirrored else f"; vectors: Chroma HNSW ({why})"
        return note


@dataclass
class Rerank:
    reranker: Reranker
    trace: Trace  # the LLM reranker records its model calls here
    warning: str | None = None
    name: str = "rerank"

    def run(self, pool: Pool) -> Step:
        ev, (qvec, idf) = pool.evidence, pool.scored()
        scores = self.reranker.rerank(pool.question, pool.candidates, qvec=qvec, idf=idf,
                                      trace=self.trace, evidence=[ev[c.id] for c in pool.candidates])
        reranked = [replace(c, score=sc, scores={**c.scores, "rerank": sc}, sentences=ev[c.id].spans)
                    for c, sc in zip(pool.candidates, scores, strict=True)]
        out = replace(pool, candidates=sorted(reranked, key=lambda c: -c.score))
        n = len(reranked)
        return Step(out, [line(self.name, n, n, pool.tokens, pool.tokens, self.reranker.name)],
                    warnings=(self.warning,) if self.warning else ())


@dataclass
class Hop:
    """The second hop: passages a top passage or the question names are lifted, and a question whose lifts
    link two passages is marked multi-hop (``linked``) for the profile."""

    settings: Settings
    name: str = "hop"

    def run(self, pool: Pool) -> Step:
        s, h, n = self.settings, self.settings.hop, len(pool.candidates)
        if not h.hop:
            return Step(pool)
        if s.rerank.reranker == "none":
            return Step(pool, [line(self.name, n, n, pool.tokens, pool.tokens, "skipped: reranker=none leaves "
                                    "the scores uncalibrated, and the hop's lifts are measured in calibrated scores")])
        hop = second_hop(pool.question, pool.candidates, idf=pool.idf)
        leads = named_leads(hop.ranked, hop.lifts, h.hop_openings) if h.hop_openings is not None else {}
        note = f"{len(hop.lifts)} passage(s) lifted: " + "; ".join(f"{d.id}: {d.reason}" for d in hop.lifts)
        if hop.lifts and cut_from_documents(hop.ranked):
            note += "; no multi-hop switch: untitled sections, most not opening with a subject"
        out = replace(pool, candidates=hop.ranked, linked=multi_hop_links(pool.question, hop.ranked, hop.lifts),
                      leads=leads)
        return Step(out, [line(self.name, n, n, pool.tokens, pool.tokens, note)])


# ---- selection -------------------------------------------------------------------------------
@dataclass
class SentenceScores:
    """Scored even when sentence pruning is off: the extractive answerer and the trace use the scores."""

    name: str = "sentence scores"

    def run(self, pool: Pool) -> Step:
        qvec, idf = pool.scored()
        ranked = score_sentences(pool.question, pool.candidates, pool.evidence, qvec=qvec, idf=idf)
        n = len(ranked)
        return Step(replace(pool, candidates=ranked),
                    [line(self.name, n, n, pool.tokens, pool.tokens, "calibrated probability per sentence")])


@dataclass
class Profile:
    """Which pruning the question gets, said in the trace: as configured, or (when the hop linked passages)
    the multi-hop profile, whose context is filled for two passages with their opening sentences first."""

    settings: Settings
    name: str = "profile"

    def run(self, pool: Pool) -> Step:
        s = self.settings
        if not s.hop.hop:
            return Step(replace(pool, profile=None))
        n = len(pool.candidates)
        if not (pool.linked and s.hop.hop_budget is not None):
            return Step(replace(pool, profile=None), [line(self.name, n, n, pool.tokens, pool.tokens, "as configured")])
        chosen = multi_hop_settings(s)
        note = (f"multi-hop: token budget {s.prune.token_budget} -> {chosen.prune.token_budget}, score floors off; "
                f"opening sentences first in {', '.join(pool.linked)}")
        out = replace(pool, candidates=openings_first(pool.candidates, pool.linked), profile=chosen)
        return Step(out, [line(self.name, n, n, pool.tokens, pool.tokens, note)])


@dataclass
class Prune:
    settings: Settings
    count: CachedCounter
    name: str = "prune"

    def run(self, pool: Pool) -> Step:
        s, (_, idf) = pool.profile or self.settings, pool.scored()
        pruner = Pruner(s.prune, self.count, cover_terms(pool.question, idf, s), leads=pool.leads)
        kept, lines = pruner.run(pool.candidates, pool.vectors)
        return Step(replace(pool, kept=kept), lines, stop_reason=pruner.stop_reason)


_IDF: weakref.WeakKeyDictionary[LexicalIndex, Idf] = weakref.WeakKeyDictionary()


def idf_of(lexical: LexicalCache) -> Idf:
    """One Idf per lexical index, so its memo outlives a query; it goes when the index does."""
    index = lexical.get()
    idf = _IDF.get(index)
    if idf is None:
        idf = _IDF[index] = Idf(index.df, index.n)
    return idf
