"""Plain dataclasses passed between the stages."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Document:
    """One loaded document. ``id`` is stable: the BEIR ``_id`` or the source path."""

    id: str
    source: str
    title: str
    text: str
    kind: str = "text"  # text | markdown | html | pdf | beir


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    source: str
    title: str
    text: str
    index: int
    start: int  # character offsets into Document.text
    end: int
    tokens: int  # in embedding-model tokens


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class IngestReport:
    files: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    # documents whose id and text another source of this run also holds: stored once per source
    # (retrieval's de-duplication keeps one of them in a context)
    duplicates: int = 0
    duplicate_examples: list[Skipped] = field(default_factory=list)  # the first few
    seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["chunks_per_second"] = round(self.chunks_per_second, 2)
        return d


@dataclass(frozen=True)
class TokenCounts:
    """Context-tokenizer counts made at ingest: the chunk's text and each of its sentences (in the order
    of ``rag.text.sentence_spans``). Counting a pool seen for the first time cost a query ~5 ms."""

    tokenizer: str
    text: int
    sentences: tuple[int, ...]


@dataclass
class Candidate:
    """A passage competing for a place in the context.

    ``scores`` keeps every signal by name (dense, lexical, fused, rerank, ...); ``score`` is the one
    the next stage uses, calibrated to 0..1 after reranking.
    """

    id: str
    text: str
    doc_id: str = ""
    source: str = ""
    title: str = ""
    start: int = 0  # offsets of ``text`` in its source document
    end: int = 0
    score: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    # Sentences as (start, end) offsets into ``text`` and their scores, filled by the reranker.
    sentences: list[tuple[int, int]] = field(default_factory=list)
    sentence_scores: list[float] = field(default_factory=list)
    counts: TokenCounts | None = None  # from the store, when ingest counted them


@dataclass
class Passage:
    """A passage in the final context: maybe only some of its sentences (``spans``, in source offsets)."""

    id: str
    doc_id: str
    source: str
    title: str
    text: str
    score: float
    spans: list[tuple[int, int]]
    tokens: int
    # The kept sentences as (start, end, score), offsets in the source, in text order.
    sentences: list[tuple[int, int, float]] = field(default_factory=list)

    def sentence_texts(self) -> list[tuple[str, float]]:
        """The kept sentences' text and score (``text`` is the spans joined by one space)."""
        out, base = [], 0
        for start, end in self.spans:
            for s, e, score in self.sentences:
                if start <= s and e <= end:
                    out.append((self.text[base + s - start: base + e - start], score))
            base += end - start + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Drop:
    id: str
    reason: str


@dataclass
class StageTrace:
    name: str
    n_in: int
    n_out: int
    tokens_in: int
    tokens_out: int
    ms: float
    dropped: list[Drop] = field(default_factory=list)
    note: str = ""


@dataclass
class ModelCall:
    """A model call made while retrieving (the LLM reranker), so that its tokens are counted too."""

    stage: str
    model: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cost: float
    ms: float


@dataclass
class Trace:
    stages: list[StageTrace] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    calls: list[ModelCall] = field(default_factory=list)
    # Why selection stopped adding evidence ("question covered", "token ceiling reached", ...), and
    # whether the answer path abstained because no candidate was relevant.
    stop_reason: str = ""
    abstained: bool = False
    request_id: str = ""  # the service's X-Request-ID, so a trace and its access-log line can be joined

    @property
    def cost(self) -> float:
        return sum(c.cost for c in self.calls)

    def stage(self, name: str) -> StageTrace:
        """The stage of that name (the first stage, "load", is there only when something loaded)."""
        return next(st for st in self.stages if st.name == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    question: str
    passages: list[Passage]
    tokens: int
    trace: Trace
    # The reranked candidates before pruning, best first: what retrieval metrics and experiments read.
    # Not serialised (it can hold hundreds of passages).
    pool: list[Candidate] = field(default_factory=list, repr=False)

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.passages)

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "tokens": self.tokens,
                "passages": [p.to_dict() for p in self.passages], "trace": self.trace.to_dict()}


@dataclass
class Usage:
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0      # reasoning + visible answer, as billed
    reasoning_tokens: int = 0
    answer_tokens: int = 0          # the visible answer
    # "usage": reported by the endpoint; "counted": counted from reasoning_content / <think> text;
    # "none": no reasoning seen.
    reasoning_source: Literal["usage", "counted", "none"] = "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Citation:
    label: int          # the number the passage had in the prompt, [1], [2], ...
    id: str
    doc_id: str
    source: str
    spans: list[tuple[int, int]]


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation]
    context: Context
    usage: Usage
    cost: float                     # USD, from the model's price table (0 for local models)
    timings: dict[str, float]       # retrieve_ms, first_token_ms, answer_ms, total_ms
    answerer: str
    model: str = ""
    finish_reason: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)   # exactly what was sent
    reasoning: str | None = None    # visible reasoning of open models, never mixed into ``text``
    attempts: int = 0               # requests made, retries included
    abstained: bool = False         # no candidate was relevant: said so without calling the model

    @property
    def trace(self) -> Trace:
        return self.context.trace

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.text,
                "citations": [asdict(c) for c in self.citations], "context": self.context.to_dict(),
                "usage": self.usage.to_dict(), "cost": self.cost,
                "total_cost": round(self.cost + self.context.trace.cost, 8), "timings": self.timings,
                "answerer": self.answerer, "model": self.model, "finish_reason": self.finish_reason,
                "abstained": self.abstained, "messages": self.messages, "reasoning": self.reasoning,
                "attempts": self.attempts}
