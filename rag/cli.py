"""`rag ingest | retrieve | ask | serve | experiment run|report|compare | tune | llm serve | config show`.

Every command takes --json and --store."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rag.errors import InputError
from rag.index.embedder import one_blas_thread
from rag.index.store import StoreError
from rag.llm.errors import LLMError
from rag.render import answer_text, context_text
from rag.settings import Settings, explain, groups
from rag.types import Answer


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--store", metavar="DIR", help="embedded Chroma folder (RAG_STORE_PATH)")
    p.add_argument("--collection", help="Chroma collection name (RAG_COLLECTION)")
    p.add_argument("--config", metavar="FILE", help="settings file (default ./rag.toml, RAG_CONFIG)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any setting, e.g. --set chunk_size=128 (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    if args.config:
        os.environ["RAG_CONFIG"] = args.config
    kwargs: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --set expects KEY=VALUE, got {item!r}")
        kwargs[key.strip()] = _parse_value(value)
    if args.store:
        kwargs["store_path"] = args.store
    if args.collection:
        kwargs["collection"] = args.collection
    kwargs.update({k: v for k, v in extra.items() if v is not None})
    return Settings(**kwargs)


def _parse_value(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _emit(args: argparse.Namespace, obj: dict[str, Any], text: Callable[[], str]) -> None:
    if args.json:
        print(json.dumps(obj, ensure_ascii=False, default=str))
    else:
        print(text())


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline

    settings = _settings(args, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap)
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    report = Pipeline(settings).ingest(args.paths, progress=not args.json and sys.stderr.isatty(),
                                       workers=args.workers)

    def text() -> str:
        lines = [f"files: {report.files} seen, {len(report.skipped)} skipped"]
        lines += [f"  skipped {s.path}: {s.reason}" for s in report.skipped]
        lines.append(f"chunks: {report.added} added, {report.updated} updated, {report.removed} removed, "
                     f"{report.unchanged} unchanged")
        if report.duplicates:
            ex = report.duplicate_examples[0]
            lines.append(f"{report.duplicates} document(s) repeat another file's (same id and text), stored "
                         f"under each file; e.g. {ex.path}: {ex.reason}")
        lines.append(f"embedded {report.embedded} chunks in {report.seconds:.1f} s "
                     f"({report.chunks_per_second:.1f} chunks/s)")
        return "\n".join(lines)

    _emit(args, report.to_dict(), text)
    missing = [p for p in args.paths if not Path(p).expanduser().exists()]
    if missing:  # a typo must not pass for a successful run (the rest was ingested; chunks of a deleted file go)
        print(f"error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    return 0


_RETRIEVE_FLAGS = {"k": "candidate_depth", "reranker": "reranker", "budget": "token_budget",
                   "max_passages": "max_passages"}


def _retrieve_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out = {name: getattr(args, flag) for flag, name in _RETRIEVE_FLAGS.items() if getattr(args, flag) is not None}
    if args.no_prune:
        from rag.evaluate.profiles import NO_PRUNE

        out.update(NO_PRUNE)
    return out


def _where(args: argparse.Namespace) -> dict | None:
    if not args.where:
        return None
    try:
        where = json.loads(args.where)
    except json.JSONDecodeError as e:
        raise InputError(f"--where is not valid JSON: {e}") from None
    if not isinstance(where, dict):
        raise InputError("--where must be a JSON object")
    return where


def cmd_retrieve(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline

    settings = _settings(args, **_retrieve_overrides(args))
    ctx = Pipeline(settings).retrieve(args.question, where=_where(args))
    if args.html:
        from rag.tracepage import render

        Path(args.html).write_text(render(ctx), encoding="utf-8")
        print(f"trace page written to {args.html}", file=sys.stderr)
    _emit(args, ctx.to_dict(), lambda: context_text(ctx, args.show_dropped))
    return 0


_ASK_FLAGS = {"answerer": "answerer", "model": "llm_model", "base_url": "llm_base_url", "effort": "reasoning_effort",
              "max_completion_tokens": "max_completion_tokens", "temperature": "temperature"}


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline

    overrides = _retrieve_overrides(args)
    overrides.update({name: getattr(args, flag) for flag, name in _ASK_FLAGS.items()
                      if getattr(args, flag) is not None})
    pipeline = Pipeline(_settings(args, **overrides))
    if args.stream and not args.json:
        stream = pipeline.answer(args.question, where=_where(args), stream=True)
        print("answer: ", end="", flush=True)
        for piece in stream:
            print(piece, end="", flush=True)
        print()
        print(_answer_text(stream.collect(), args, with_text=False))  # read already: collect only returns it
        return 0
    ans = pipeline.answer(args.question, where=_where(args))
    _emit(args, ans.to_dict(), lambda: _answer_text(ans, args))
    return 0


def _answer_text(ans: Answer, args: argparse.Namespace, *, with_text: bool = True) -> str:
    return answer_text(ans, with_text=with_text, show_reasoning=args.show_reasoning,
                       show_context=not args.no_context, show_dropped=args.show_dropped)


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def serve_problems(settings: Settings) -> list[str]:
    """Why `rag serve` must refuse these settings (empty: it may start)."""
    from rag.api.app import auth_problems

    out = auth_problems(settings)
    if settings.api.api_key is None and settings.api.api_host not in _LOOPBACK:
        out.append(f"no RAG_API_KEY: refusing to listen on {settings.api.api_host}; set RAG_API_KEY, or bind 127.0.0.1")
    if settings.api.api_workers > 1 and not settings.store.chroma_host:
        out.append("embedded Chroma has a single writer: more than one worker needs a Chroma server "
                   "(RAG_CHROMA_HOST / RAG_CHROMA_PORT, e.g. `chroma run --path DIR`)")
    return out


def _refuse_empty_store(settings: Settings) -> None:
    """A mistyped --store once started a service on a new, empty store that answered every question with an
    empty context and no warning."""
    from rag.index.chroma import StoreConfig, peek

    config = StoreConfig.of(settings)
    held = peek(config)
    if held is None or held["chunks"] == 0:
        where = f"{config.host}:{config.port}" if config.host else str(config.path)
        state = "holds no chunks" if held is not None else "has no store"
        raise InputError(f"nothing to serve: {where} {state} (collection {config.collection!r}); run "
                         "`rag ingest PATH --store ...` first, or pass --allow-empty-store to start empty and "
                         "fill it through /v1/ingest")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from rag.api.app import SETTINGS_ENV, configure_process, create_app, hand_over
    from rag.api.protocol import server_options

    settings = _settings(args, api_host=args.host, api_port=args.port, api_workers=args.workers)
    problems = serve_problems(settings)
    if problems:
        raise InputError("; ".join(problems))
    if not args.allow_empty_store:
        _refuse_empty_store(settings)
    if settings.api.api_key is None:
        print(f"note: no RAG_API_KEY set, so the service listens on {settings.api.api_host} (loopback) only",
              file=sys.stderr, flush=True)
    print(f"leanrag on http://{settings.api.api_host}:{settings.api.api_port} (docs at /docs); "
          "ready when /readyz says so",
          file=sys.stderr, flush=True)
    if settings.api.api_workers == 1:
        configure_process(settings)
        uvicorn.run(create_app(settings), host=settings.api.api_host, port=settings.api.api_port, log_level="warning",
                    **server_options(settings))
    else:
        # Every setting reaches the workers, the keys given with --set included (they were once lost, leaving
        # the workers open): through a file only this user can read, never through the environment.
        os.environ[SETTINGS_ENV] = str(hand_over(settings))
        uvicorn.run("rag.api.app:app_from_env", factory=True, host=settings.api.api_host, port=settings.api.api_port,
                    workers=settings.api.api_workers, log_level="warning", **server_options(settings))
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from rag.integrations.mcp import build_server
    from rag.pipeline import Pipeline

    # stdout carries the protocol: everything else (progress, warnings) goes to stderr
    build_server(Pipeline(_settings(args)), allow_ingest=args.allow_ingest).run("stdio")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from rag.evaluate import report
    from rag.evaluate.experiment import Spec, run_experiment
    from rag.evaluate.results import read_rows, summarize

    if args.experiment_command == "run":
        spec = Spec.load(args.spec)
        out = Path(args.out or Path("runs") / spec.name)
        base = Path(".") if args.relative_to_cwd else Path(args.spec).resolve().parent
        summary = run_experiment(spec, out, base=base, progress=not args.json and sys.stderr.isatty())
        report.write_report(out)
        rows = summarize(read_rows(out / "results.jsonl"))
        _emit(args, {"out": str(out), "summary": rows},
              lambda: f"results in {out} ({summary.name}, report.md)\n" + "\n".join(
                  f"  {r['config']}: " + ", ".join(f"{k} {r[k]}" for k in ("answer_kept", "support_recall", "f1",
                                                                             "context_tokens_median") if r.get(k)
                                                   is not None) for r in rows))
    elif args.experiment_command == "report":
        path = report.write_report(Path(args.dir), args.metric)
        _emit(args, {"report": str(path)}, lambda: f"wrote {path}")
    else:
        rows = report.compare(Path(args.a), Path(args.b), args.metric)
        _emit(args, {"comparisons": rows}, lambda: "\n".join(
            f"{r['config']}: {r['metric']} B - A = {r['diff']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}], "
            f"p = {r['p']:.4f}, n = {r['n']}: {r['verdict']}" for r in rows))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from rag.evaluate.experiment import Spec
    from rag.evaluate.tune import run_tune

    spec = Spec.load(args.spec)
    out = Path(args.out or Path("runs") / spec.name)
    base = Path(".") if args.relative_to_cwd else Path(args.spec).resolve().parent
    res = run_tune(spec, out, base=base, progress=not args.json and sys.stderr.isatty())
    objective = spec.tune["objective"]
    _emit(args, {"out": str(out), "best": res.best, "settings": res.overrides, "test": res.test,
                 "tuned_minus_defaults": res.effect},
          lambda: f"chosen on train: {res.best}\n" + "\n".join(
              f"  test {r['config']}: {objective} {r.get(objective)}, median context {r['context_tokens_median']}"
              for r in res.test) + f"\n  tuned - defaults: {res.effect['diff']:+.4f} [{res.effect['low']:+.4f}, "
              f"{res.effect['high']:+.4f}]\nreport: {res.report}; settings: {out / 'best.toml'}")
    return 0


def cmd_llm_serve(args: argparse.Namespace) -> int:
    import importlib.util

    from rag.llm import local

    settings = _settings(args, local_port=args.port, local_host=args.host)
    if importlib.util.find_spec("llama_cpp") is None:
        raise InputError("the local model server needs llama-cpp-python: pip install 'llama-cpp-python[server]'")
    cmd = local.server_command(settings)
    print(f"serving {local.MODEL_ALIAS} at {local.base_url(settings)} (use it with --answerer local "
          f"or RAG_ANSWERER=local)", file=sys.stderr, flush=True)
    os.execv(cmd[0], cmd)
    return 0  # not reached


def cmd_config_show(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from rag.text import text_processing

    data = {**settings.public_dict(), "text_processing": text_processing()}

    def text() -> str:  # rag.toml as it would be written: the two top-level settings, then a table per stage
        lines = []
        for group, names in groups().items():
            values = data[group] if group else data
            lines += ([f"\n[{group}]"] if group else []) + [f"{k} = {json.dumps(values[k], default=str)}"
                                                           for k in names]
        return "\n".join(lines + [f"\n# text_processing: {data['text_processing']}"])

    _emit(args, data, text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="lean-context RAG for reasoning models")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add, update and remove documents in the store")
    p.add_argument("paths", nargs="+", help="files or folders (.txt .md .html .pdf, BEIR .jsonl)")
    p.add_argument("--chunk-size", type=int, help="chunk length in embedding-model tokens")
    p.add_argument("--chunk-overlap", type=int)
    p.add_argument("--workers", type=int, default=1,
                   help="processes that share the files out (default 1; more need a Chroma server)")
    _common(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("retrieve", help="the lean context for a question, with its trace")
    _retrieval_args(p)
    p.add_argument("--html", metavar="FILE", help="also write the trace as one self-contained HTML page")
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("ask", help="answer a question from the lean context, with usage and cost")
    _retrieval_args(p)
    p.add_argument("--answerer", choices=["auto", "extractive", "openai", "local"])
    p.add_argument("--model", help="model name (RAG_LLM_MODEL)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (RAG_LLM_BASE_URL)")
    p.add_argument("--effort", choices=["minimal", "low", "medium", "high"], help="reasoning_effort")
    p.add_argument("--max-completion-tokens", type=int, help="output budget, reasoning included")
    p.add_argument("--temperature", type=float, help="sent only to models that accept it")
    p.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    p.add_argument("--show-reasoning", action="store_true", help="print the reasoning open models return")
    p.add_argument("--no-context", action="store_true", help="do not print the messages sent")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="the HTTP API (uvicorn)")
    p.add_argument("--host", help="default 127.0.0.1 (RAG_API_HOST); other hosts need RAG_API_KEY")
    p.add_argument("--port", type=int, help="default 8080 (RAG_API_PORT)")
    p.add_argument("--workers", type=int, help="default 1 (RAG_API_WORKERS); more need a Chroma server")
    p.add_argument("--allow-empty-store", action="store_true",
                   help="start although the store is missing or empty (to fill it through /v1/ingest)")
    _common(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("mcp", help="the store as Model Context Protocol tools over stdio (for agents)")
    p.add_argument("--allow-ingest", action="store_true", help="also offer the ingest tool (off by default)")
    _common(p)
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("experiment", help="run, report and compare experiments")
    esub = p.add_subparsers(dest="experiment_command", required=True)
    run = esub.add_parser("run", help="run (or resume) a spec into a results folder")
    run.add_argument("spec", help="TOML or YAML spec")
    run.add_argument("--out", help="results folder (default runs/<name>)")
    run.add_argument("--relative-to-cwd", action="store_true",
                     help="dataset paths relative to the working folder (default: to the spec file)")
    rep = esub.add_parser("report", help="write report.md and plots for a results folder")
    rep.add_argument("dir")
    rep.add_argument("--metric", help="primary metric (default: the spec's, else f1, contains, ...)")
    cmp_ = esub.add_parser("compare", help="is B better than A? (paired bootstrap per configuration)")
    cmp_.add_argument("a")
    cmp_.add_argument("b")
    cmp_.add_argument("--metric", help="default: f1, contains, support_recall or answer_kept, the first present")
    for sp in (run, rep, cmp_):
        _common(sp)
        sp.set_defaults(func=cmd_experiment)

    p = sub.add_parser("tune", help="search retrieval settings on a train split, report once on test")
    p.add_argument("spec", help="TOML or YAML spec with a [tune] table")
    p.add_argument("--out", help="results folder (default runs/<name>)")
    p.add_argument("--relative-to-cwd", action="store_true",
                   help="dataset paths relative to the working folder (default: to the spec file)")
    _common(p)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("llm", help="the local model")
    lsub = p.add_subparsers(dest="llm_command", required=True)
    serve = lsub.add_parser("serve", help="serve SmolLM2 through llama.cpp's OpenAI-compatible server")
    serve.add_argument("--host", help="default 127.0.0.1 (RAG_LOCAL_HOST)")
    serve.add_argument("--port", type=int, help="default 8765 (RAG_LOCAL_PORT)")
    _common(serve)
    serve.set_defaults(func=cmd_llm_serve)

    p = sub.add_parser("config", help="settings")
    csub = p.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print the effective settings")
    _common(show)
    show.set_defaults(func=cmd_config_show)
    return parser


def _retrieval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("question")
    p.add_argument("--k", type=int, help="candidate depth N")
    p.add_argument("--reranker", choices=["embedding", "cross-encoder", "llm", "none"])
    p.add_argument("--budget", type=int, help="token budget of the context")
    p.add_argument("--max-passages", type=int)
    p.add_argument("--no-prune", action="store_true", help="switch every pruning step off")
    p.add_argument("--where", help='Chroma metadata filter as JSON, e.g. \'{"source": "/abs/path.md"}\'')
    p.add_argument("--show-dropped", type=int, default=5, metavar="N", help="dropped passages shown per stage")
    _common(p)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.INFO if getattr(args, "verbose", False) else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.root.handlers[0].setLevel(level)  # bm25s sets its own logger to DEBUG on import
    _say_when_loading()
    one_blas_thread()
    try:
        return int(args.func(args) or 0)
    except ValidationError as e:
        return _fail(args, explain(e), 2)
    except (StoreError, InputError, FileNotFoundError) as e:
        return _fail(args, str(e), 2)
    except LLMError as e:  # the model endpoint failed: exit 3, so scripts can tell it from bad input
        return _fail(args, str(e), 3)
    except Exception as e:  # a fault of leanrag or its configuration, not of the arguments: exit 1
        verbose = level == logging.INFO
        if verbose:
            logging.getLogger("rag").exception("unexpected error")
        hint = "" if verbose else " (run with --verbose for the traceback)"
        return _fail(args, f"unexpected {type(e).__name__}: {e}{hint}", 1)


def _say_when_loading() -> None:
    """Print the embedding model's loading line (seconds of silence otherwise) to stderr, verbose or not."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s ..."))
    loading = logging.getLogger("rag.index.embedder")
    loading.setLevel(logging.INFO)
    loading.addHandler(handler)
    loading.propagate = False


def _fail(args: argparse.Namespace, msg: str, code: int) -> int:
    if args.json:
        print(json.dumps({"error": msg}))
    print(f"error: {msg}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
