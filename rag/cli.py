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
