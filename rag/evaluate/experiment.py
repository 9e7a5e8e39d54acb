"""Experiments: a dataset, a grid of settings, an answerer -> a results folder that survives crashes.

A spec (TOML or YAML)::

    name = "squad-context"
    metric = "contains"                 # the report's primary metric (default: the first answer metric)
    [dataset]
    kind = "squad"                      # squad | hotpotqa | beir | corpus
    path = "../shared/data/squad-v1.1-dev/dev-v1.1.json"
    store = "/work/bench/squad"         # the ingested corpus (squad, beir, corpus)
    split = "test"                      # squad: test = the seeded 300; beir: the qrels file
    offset = 0                          # skip the first questions (a split of a set without one)
    limit = 100
    corpus = "../shared/data/..."       # what to ingest when the grid changes chunk_size/chunk_overlap
    [settings]                          # for every run
    answerer = "extractive"
    [grid]                              # every combination is one configuration
    token_budget = [60, 130, 350]
    sentence_prune = [true, false]
    distractors = [0, 4]                # experiment knobs (rag.evaluate.manipulate) mix with settings
    [configs]                           # named configurations, run beside the grid's
    naive = { profile = "naive-top5" }  # profiles: lean, naive-top5, multi-hop (rag.evaluate.profiles)

The folder holds ``spec.json``, ``environment.json`` (packages, git commit, models), ``results.jsonl``
(one line per configuration and question, appended and flushed as it goes: a rerun skips what is
there), ``calls.jsonl`` (model answers by request hash: a rerun pays for nothing twice) and
``summary.csv``. A grid over ``chunk_size``/``chunk_overlap`` ingests ``dataset.corpus`` once per
chunking into ``stores/`` beside the run (kept: a rerun or a resumed run embeds nothing again).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
import json
import platform
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from filelock import FileLock, Timeout
from tqdm import tqdm

from rag.answer.factory import resolve_answerer
from rag.answer.prompt import PROMPT_VERSION
from rag.errors import InputError
from rag.evaluate.datasets import Question, beir, corpus_questions, hotpotqa, squad_split
from rag.evaluate.manipulate import Manipulation, RandomPool, apply
from rag.evaluate.profiles import PROFILES
from rag.evaluate.results import answer_scores, question_row, read_rows, write_summary
from rag.llm.errors import LLMError
from rag.retrieve.passages import PassageInput, to_candidates
from rag.settings import ANSWER_FIELDS, Settings
from rag.tokens import count_tokens
from rag.types import Answer, Candidate, Context, IngestReport

if TYPE_CHECKING:
    import random

    from rag.index.store import Store


class ExperimentPipeline(Protocol):
    """What an experiment asks of a pipeline (``rag.pipeline.Pipeline`` is one; tests pass their own)."""

    settings: Settings

    def retrieve(self, question: str, *, passages: Sequence[PassageInput] | None = None,
                 settings: Settings | None = None) -> Context: ...

    def answer_context(self, question: str, ctx: Context, *, started: float | None = None,
                       settings: Settings | None = None) -> Answer: ...

    def store(self) -> Store: ...

    def ingest(self, paths: Iterable[str | Path]) -> IngestReport: ...


CHUNKING = ("chunk_size", "chunk_overlap")


@dataclass
class Spec:
    name: str
    dataset: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # named configurations, beside the grid
    tune: dict[str, Any] = field(default_factory=dict)  # rag tune: objective, train and test splits
    metric: str | None = None  # the report's primary metric (default: f1, contains, support_recall, ...)

    @classmethod
    def load(cls, path: str | Path) -> Spec:
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)
        else:
            raw = tomllib.loads(text)
        unknown = set(raw) - {"name", "metric", "dataset", "settings", "grid", "configs", "tune"}
        if unknown or "dataset" not in raw:
            raise InputError(f"{path}: a spec has name, metric, dataset, settings, grid, configs, tune; "
                             f"got {sorted(raw)}")
        spec = cls(raw.get("name") or path.stem, raw["dataset"], raw.get("settings", {}), raw.get("grid", {}),
                   raw.get("configs", {}), raw.get("tune", {}), raw.get("metric"))
        for key, values in spec.grid.items():
            if not isinstance(values, list) or not values:
                raise InputError(f"{path}: grid.{key} must be a non-empty list")
        spec.configurations()  # every combination must be valid settings: fail before any work
        return spec

    def configurations(self) -> list[tuple[str, dict[str, Any]]]:
        keys = list(self.grid)
        out = []
        named = [(name, dict(values)) for name, values in self.configs.items()]
        if keys or not named:  # no grid and no named configuration: one "base" run of the settings
            named += [(grid_name(keys, values), dict(zip(keys, values, strict=True)))
                      for values in itertools.product(*(self.grid[k] for k in keys))]
        for name, values in named:
            overrides = {**self.settings, **values}
            if "profile" in overrides:  # a named set of overrides (rag.evaluate.profiles), then the rest on top
                profile = overrides.pop("profile")
                if profile not in PROFILES:
                    raise InputError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
                overrides = {**PROFILES[profile], **overrides}
            _, settings = Manipulation.split(overrides)  # validates the experiment knobs
            Settings(**settings)  # validates names and values
            out.append((name, overrides))
        return out


def grid_name(keys: list[str], values: Any) -> str:
    """A grid point's configuration name: ``key=json`` pairs joined by commas ("base" for none)."""
    return ",".join(f"{k}={json.dumps(v)}" for k, v in zip(keys, values, strict=True)) or "base"


def load_questions(dataset: dict[str, Any], base: Path = Path(".")) -> list[Question]:
    kind, path = dataset.get("kind"), base / str(dataset.get("path", ""))
    if kind == "squad":
        train, test = squad_split(path)
        qs = test if dataset.get("split", "test") == "test" else train
    elif kind == "hotpotqa":
        qs = hotpotqa(path)
    elif kind == "beir":
        qs = beir(path, dataset.get("split", "test"))
    elif kind == "corpus":
        qs = corpus_questions(path)
    else:
        raise InputError(f"dataset.kind must be squad, hotpotqa, beir or corpus, not {kind!r}")
    qs = qs[int(dataset.get("offset", 0)):]
    return qs[: dataset["limit"]] if dataset.get("limit") else qs


def environment(settings: Settings) -> dict[str, Any]:
    pkgs: dict[str, str | None] = {}
    for name in ("leanrag", "chromadb", "sentence-transformers", "torch", "openai", "tiktoken", "bm25s", "ranx"):
        try:
            pkgs[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pkgs[name] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                                cwd=Path(__file__).parent).stdout.strip() or None
    except OSError:
        commit = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": pkgs,
            "git_commit": commit, "embedding_model": settings.ingest.embedding_model,
            "llm_model": settings.answer.llm_model,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


class CallCache:
    """Answers by request hash, one JSON line each, so a rerun or a resumed run pays for nothing twice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self.data[row["key"]] = row["value"]
                except (json.JSONDecodeError, KeyError):
                    continue  # a line cut by a crash: that call is simply made again

    @staticmethod
    def key(*parts: Any) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        return self.data.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.data[key] = value
        with open_append(self.path) as f:
            f.write(json.dumps({"key": key, "value": value}) + "\n")


def open_append(path: Path) -> Any:
    """``path`` opened for appending lines, after ending a line a crash cut (which would otherwise
    swallow the next row)."""
    if path.exists() and path.stat().st_size:
        with path.open("rb") as f:
            f.seek(-1, 2)
            cut = f.read(1) != b"\n"
        if cut:
            with path.open("a", encoding="utf-8") as f:
                f.write("\n")
    return path.open("a", encoding="utf-8")


_SECRET_NAME = ("_key", "secret", "password")  # llm_api_key, api_key ... (not token_budget)


def redact_settings(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as it may be written down: values of secret-looking settings (``llm_api_key`` ...) masked."""
    def clean(d: Any) -> Any:
        if not isinstance(d, dict):
            return d
        return {k: "***" if str(k).lower().endswith(_SECRET_NAME) and v else clean(v) for k, v in d.items()}
    return {k: clean(v) if k in ("settings", "grid", "configs") else v for k, v in spec.items()}


class RandomPassages:
    """Random distractors: chunks of the store, or other questions' own paragraphs."""

    def __init__(self, questions: list[Question], pipeline: ExperimentPipeline) -> None:
        self.questions, self.pipeline = questions, pipeline
        self._all: list[Candidate] | None = None

    def __call__(self, q: Question, n: int, rng: random.Random) -> list[Candidate]:
        if self._all is None:
            if any(x.passages for x in self.questions):
                self._all = to_candidates([p for x in self.questions for p in x.passages or []])
            else:
                self._all = [c.candidate() for c in self.pipeline.store().all_chunks()]
        own = {str(p["id"]) for p in q.passages or []}
        pool = [c for c in self._all if c.id not in own]
        return rng.sample(pool, min(n, len(pool)))


def run_experiment(spec: Spec, out: Path, *, pipeline_factory: Callable[[Settings], ExperimentPipeline] | None = None,
                   base: Path = Path("."), progress: bool = True, answer: bool = True,
                   stores: Path | None = None) -> Path:
    """Run (or resume) every configuration over every question; returns the summary path. One run writes a
    folder at a time (a second one is refused at once, not interleaved)."""
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out / ".run.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise InputError(f"{out}: another run is writing this folder; wait for it or choose another "
                         "--out") from None
    try:
        return _run(spec, out, pipeline_factory=pipeline_factory, base=base, progress=progress, answer=answer,
                    stores=stores)
    finally:
        lock.release()


def _run(spec: Spec, out: Path, *, pipeline_factory: Callable[[Settings], ExperimentPipeline] | None,
         base: Path, progress: bool, answer: bool, stores: Path | None) -> Path:
    from rag.pipeline import Pipeline

    questions = load_questions(spec.dataset, base)
    store = spec.dataset.get("store")
    root = Settings().replace(store_path=base / store) if store else Settings()
    written = json.dumps(redact_settings(spec.__dict__), indent=2, default=str)
    before = out / "spec.json"
    if before.exists() and read_rows(out / "results.jsonl") and json.loads(before.read_text()) != json.loads(written):
        # its rows would pass for this spec's results (a configuration of the same name, other settings)
        raise InputError(f"{out} holds the results of another spec ({before}); choose another --out, or delete "
                         "the folder to start over")
    before.write_text(written)
    if not (out / "environment.json").exists():
        (out / "environment.json").write_text(json.dumps(environment(root), indent=2))
    results = out / "results.jsonl"
    done = {(r["config"], r["qid"]) for r in read_rows(results) if "error" not in r}
    cache = CallCache(out / "calls.jsonl")
    make: Callable[[Settings], ExperimentPipeline] = pipeline_factory or Pipeline
    pipelines: dict[tuple, tuple[ExperimentPipeline, RandomPool]] = {}
    configs = spec.configurations()
    bar = tqdm(total=len(configs) * len(questions), disable=not progress, desc=spec.name, unit="q")
    with open_append(results) as f:
        for name, overrides in configs:
            chunking = tuple(overrides.get(k) for k in CHUNKING)
            if chunking not in pipelines:
                pipeline = _pipeline_for(make, root, spec, overrides, base, stores or out / "stores")
                pipelines[chunking] = (pipeline, RandomPassages(questions, pipeline))
            pipeline, pool = pipelines[chunking]
            manipulation, rest = Manipulation.split(overrides)
            # chunking is the store's own (see _pipeline_for): resolved once per configuration
            s = pipeline.settings.replace(**{k: v for k, v in rest.items() if k not in CHUNKING})
            for q in questions:
                bar.update()
                if (name, q.id) in done:
                    continue
                try:
                    row = _run_question(pipeline, q, s, manipulation, cache, answer=answer, pool=pool)
                except LLMError as e:  # one failed model call costs one question, not the run (retried on resume)
                    row = {"qid": q.id, "error": f"{type(e).__name__}: {e}"}
                    bar.write(f"{name} {q.id}: {row['error']}")
                f.write(json.dumps({"config": name, **row}) + "\n")
                f.flush()
    bar.close()
    return write_summary(out, configs=[n for n, _ in configs])


def _pipeline_for(make: Callable[[Settings], ExperimentPipeline], root: Settings, spec: Spec,
                  overrides: dict[str, Any], base: Path, stores: Path) -> ExperimentPipeline:
    """The run's pipeline, or for a configuration that changes chunking, one over its own store."""
    chunking = {k: overrides[k] for k in CHUNKING if k in overrides}
    if not chunking:
        return make(root)
    corpus = spec.dataset.get("corpus")
    if not corpus:
        raise InputError("a grid over chunk_size/chunk_overlap needs dataset.corpus (the files to ingest)")
    s = root.replace(**chunking)
    s = s.replace(store_path=stores / f"chunks-{s.ingest.chunk_size}-{s.ingest.chunk_overlap}")
    pipeline = make(s)
    pipeline.ingest([base / str(corpus)])  # incremental: an existing store embeds nothing again
    return pipeline


def _run_question(pipeline: ExperimentPipeline, q: Question, s: Settings, manipulation: Manipulation,
                  cache: CallCache, *, answer: bool, pool: RandomPool | None = None) -> dict:
    t0 = time.perf_counter()

    def count(text: str) -> int:
        return count_tokens(text, s.tokenizer)

    ctx = pipeline.retrieve(q.text, passages=q.passages, settings=s)
    ctx = apply(ctx, q, manipulation, count=count, random_pool=pool)
    if not answer or q.relevant and not q.answers:  # BEIR: retrieval only
        return question_row(q, ctx, None, count)
    if resolve_answerer(s) == "extractive":  # no model call: nothing worth caching
        return question_row(q, ctx, pipeline.answer_context(q.text, ctx, started=t0, settings=s), count)
    key = cache.key(q.text, ctx.text, {**s.flat(sorted(ANSWER_FIELDS), mode="json"),
                                       "prompt_version": PROMPT_VERSION})
    hit = cache.get(key)
    if hit is None:
        ans = pipeline.answer_context(q.text, ctx, started=t0, settings=s)
        row = question_row(q, ctx, ans, count)
        cache.put(key, {k: row[k] for k in _CACHED})
        return row
    row = question_row(q, ctx, None, count)
    row.update(hit)
    row.update(answer_scores(hit["answer"], q), cached_call=True)
    return row


_CACHED = ["answer", "prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens", "answer_tokens",
           "cost", "latency_ms"]
