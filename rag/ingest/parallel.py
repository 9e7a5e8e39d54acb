"""Ingest with several processes against one Chroma server: the files are shared out, each process
embeds its share, and their writes take turns under the server's writer lease.

Files are the unit of work (a single large BEIR file goes to one process). Each worker ingests an
explicit list of files, so no worker removes another's: chunks of files gone from the named folders
are removed afterwards by one ordinary ingest over the same paths, which finds everything else
unchanged (and redoes the share of a worker that failed).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from rag.errors import InputError
from rag.ingest.loaders import discover
from rag.settings import Settings
from rag.stage_settings import usable_cores
from rag.types import IngestReport

log = logging.getLogger(__name__)


def shares(files: Sequence[Path], n: int) -> list[list[Path]]:
    """``n`` lists of files with about equal bytes each (largest first, each to the lightest share)."""
    sized = sorted(((f.stat().st_size, str(f), f) for f in files), reverse=True)
    out: list[list[Path]] = [[] for _ in range(n)]
    load = [0] * n
    for size, _, f in sized:
        i = load.index(min(load))
        out[i].append(f)
        load[i] += size
    return [sorted(s) for s in out if s]


def _worker(files: list[str], settings: Settings, threads: int) -> IngestReport:
    import torch

    from rag.index.embedder import make_embedder
    from rag.index.store import open_store
    from rag.ingest.ingest import ingest
    from rag.language import using

    torch.set_num_threads(threads)
    embedder = make_embedder(settings)
    with using(settings.language):
        return ingest(files, settings=settings, embedder=embedder,
                      store=open_store(settings, embedder.dimension, create=True))


def ingest_in_workers(paths: Sequence[str | Path], *, settings: Settings, workers: int,
                      finish: Callable[[], IngestReport]) -> IngestReport:
    """Run ``workers`` processes over shares of the files under ``paths``, then ``finish`` (one ordinary
    ingest over ``paths``, in this process) for removals and anything a worker left undone."""
    if not settings.store.chroma_host:
        raise InputError("--workers needs a Chroma server (RAG_CHROMA_HOST / RAG_CHROMA_PORT): an embedded store "
                         "takes one writer at a time")
    t0 = time.perf_counter()
    files, _ = discover(paths, exclude=settings.ingest.ingest_exclude)
    parts = shares(files, workers)
    threads = max(1, usable_cores() // max(1, len(parts)))
    total = IngestReport()
    if parts:
        with ProcessPoolExecutor(len(parts), mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_worker, [str(f) for f in part], settings, threads) for part in parts]
            for future in futures:
                try:
                    _add(total, future.result())
                except Exception:  # its files are redone below, where a lasting fault is raised
                    log.warning("an ingest worker failed; its files are ingested again here", exc_info=True)
    written = total.added + total.updated
    last = finish()
    _add(total, last)
    total.files, total.removed = last.files, last.removed
    total.unchanged = max(0, last.unchanged - written)
    total.skipped = list({(s.path, s.reason): s for s in total.skipped + last.skipped}.values())
    total.seconds = time.perf_counter() - t0
    return total


def _add(total: IngestReport, part: IngestReport) -> None:
    for name in ("added", "updated", "embedded", "duplicates"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.skipped += part.skipped
    total.duplicate_examples += part.duplicate_examples[: 10 - len(total.duplicate_examples)]
