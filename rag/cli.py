"""`rag ingest | retrieve | config show` — every command takes --json and --store."""
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

from rag.index.store import StoreError
from rag.settings import Settings


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
    report = Pipeline(settings).ingest(args.paths, progress=not args.json and sys.stderr.isatty())

    def text() -> str:
        lines = [f"files: {report.files} seen, {len(report.skipped)} skipped"]
        lines += [f"  skipped {s.path}: {s.reason}" for s in report.skipped]
        lines.append(f"chunks: {report.added} added, {report.updated} updated, {report.removed} removed, "
                     f"{report.unchanged} unchanged")
        lines.append(f"embedded {report.embedded} chunks in {report.seconds:.1f} s "
                     f"({report.chunks_per_second:.1f} chunks/s)")
        return "\n".join(lines)

    _emit(args, report.to_dict(), text)
    return 0


_RETRIEVE_FLAGS = {"k": "candidate_depth", "reranker": "reranker", "budget": "token_budget",
                   "max_passages": "max_passages"}


def _retrieve_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out = {name: getattr(args, flag) for flag, name in _RETRIEVE_FLAGS.items() if getattr(args, flag) is not None}
    if args.no_prune:
        out.update(min_score=None, adaptive_cut=False, relative_cut=None, dedup_threshold=None,
                   sentence_prune=False, token_budget=None, max_passages=None)
    return out


def cmd_retrieve(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline

    settings = _settings(args, **_retrieve_overrides(args))
    where = json.loads(args.where) if args.where else None
    ctx = Pipeline(settings).retrieve(args.question, where=where)

    def text() -> str:
        lines = [f"context: {len(ctx.passages)} passage(s), {ctx.tokens} tokens"]
        for w in ctx.trace.warnings:
            lines.append(f"warning: {w}")
        for p in ctx.passages:
            spans = ", ".join(f"{a}-{b}" for a, b in p.spans)
            lines.append(f"\n[{p.id[:12]}] score {p.score:.3f}  {p.source} ({spans})")
            lines.append("    " + " ".join(p.text.split()))
        lines.append("\nstage          in  out  tokens in -> out      ms  note")
        for st in ctx.trace.stages:
            lines.append(f"{st.name:<12} {st.n_in:>4} {st.n_out:>4}  {st.tokens_in:>9} -> {st.tokens_out:<6}"
                         f" {st.ms:>7.1f}  {st.note}")
            for d in st.dropped[: args.show_dropped]:
                lines.append(f"{'':14}dropped {d.id[:12]}: {d.reason}")
            if len(st.dropped) > args.show_dropped:
                lines.append(f"{'':14}... and {len(st.dropped) - args.show_dropped} more (--show-dropped N)")
        return "\n".join(lines)

    _emit(args, ctx.to_dict(), text)
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    settings = _settings(args)
    data = settings.public_dict()
    _emit(args, data, lambda: "\n".join(f"{k} = {json.dumps(v, default=str)}" for k, v in data.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="lean-context RAG for reasoning models")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add, update and remove documents in the store")
    p.add_argument("paths", nargs="+", help="files or folders (.txt .md .html .pdf, BEIR .jsonl)")
    p.add_argument("--chunk-size", type=int, help="chunk length in embedding-model tokens")
    p.add_argument("--chunk-overlap", type=int)
    _common(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("retrieve", help="the lean context for a question, with its trace")
    p.add_argument("question")
    p.add_argument("--k", type=int, help="candidate depth N")
    p.add_argument("--reranker", choices=["embedding", "cross-encoder", "none"])
    p.add_argument("--budget", type=int, help="token budget of the context")
    p.add_argument("--max-passages", type=int)
    p.add_argument("--no-prune", action="store_true", help="switch every pruning step off")
    p.add_argument("--where", help='Chroma metadata filter as JSON, e.g. \'{"source": "/abs/path.md"}\'')
    p.add_argument("--show-dropped", type=int, default=5, metavar="N", help="dropped passages shown per stage")
    _common(p)
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("config", help="settings")
    csub = p.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print the effective settings")
    _common(show)
    show.set_defaults(func=cmd_config_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    else:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (StoreError, ValidationError, ValueError, FileNotFoundError) as e:
        msg = str(e)
        if args.json:
            print(json.dumps({"error": msg}))
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
