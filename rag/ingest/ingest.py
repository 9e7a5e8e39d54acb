"""Incremental, idempotent, resumable ingest.

Chunk ids are derived from content, so the wanted state of the collection is a pure function of the
files: every run computes it, writes the chunks that are missing and deletes the ones not wanted.
A run killed at any point leaves a subset of old and new chunks; the next run converges to exactly
what a clean run gives. A file whose chunks are all present with its current fingerprint is not even
re-split.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from rag.index.embedder import Encoder
from rag.index.records import SourceState, counts_meta
from rag.index.store import Store
from rag.ingest.loaders import LoadError, discover, load_file
from rag.ingest.split import Splitter
from rag.settings import Settings
from rag.text import embed_text, sentence_spans
from rag.tokens import count_tokens
from rag.types import Chunk, Document, IngestReport, Skipped, TokenCounts

log = logging.getLogger(__name__)


@dataclass
class _Planned:
    chunk: Chunk
    fingerprint: str
    file_chunks: int
    update: bool  # the file had chunks before


def chunking_params(settings: Settings, embedder: Encoder) -> dict[str, object]:
    # The tokenizer is here because stored chunks carry its counts: a new one relabels every chunk (no
    # embedding), as does the first run over a store written before counts were kept.
    return {"chunk_size": settings.ingest.chunk_size, "chunk_overlap": settings.ingest.chunk_overlap,
            "max_tokens": embedder.max_tokens, "splitter": "v1", "context_tokenizer": settings.tokenizer}


def stored_facts(chunk: Chunk, spans: list[tuple[int, int]], tokenizer: str) -> dict[str, object]:
    """What a chunk's metadata says of its text beside the splitter's fields: its sentence count and
    the context tokenizer's counts, so retrieval never tokenises a stored chunk again."""
    counts = TokenCounts(tokenizer, count_tokens(chunk.text, tokenizer),
                         tuple(count_tokens(chunk.text[s:e], tokenizer) for s, e in spans))
    return {"sentences": len(spans), **counts_meta(counts)}


def file_fingerprint(path: Path, params: dict[str, object]) -> str:
    h = hashlib.sha256(repr(sorted(params.items())).encode())
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


def _under(source: str, roots: Sequence[Path]) -> bool:
    p = Path(source)
    return any(p == r or r in p.parents for r in roots)


class _Run:
    """One ingest run: plans what each source needs, then writes it (shared by files and API documents)."""

    def __init__(self, settings: Settings, embedder: Encoder, store: Store, report: IngestReport) -> None:
        self.settings, self.embedder, self.store, self.report = settings, embedder, store, report
        self.params = chunking_params(settings, embedder)
        self.splitter = Splitter(embedder.count_tokens, chunk_size=settings.ingest.chunk_size,
                                 chunk_overlap=settings.ingest.chunk_overlap, max_tokens=embedder.max_tokens)
        self.planned: list[_Planned] = []
        self.stale: list[str] = []
        self.states: dict[str, SourceState] = {}
        self.seen: dict[tuple[str, bytes], str] = {}  # (document id, text digest) -> first source

    def plan(self, source: str, fp: str, load: Callable[[], list[Document]]) -> None:
        state = self.states.get(source, SourceState())
        if state.complete(fp):
            self.report.unchanged += len(state.ids)
            return
        docs = load()
        self._note_duplicates(source, docs)
        chunks = [c for d in docs for c in self.splitter.split(d)]
        have = state.ids
        self.stale.extend(sorted(have - {c.id for c in chunks}))
        keep = [c for c in chunks if c.id in have]
        self.report.unchanged += len(keep)
        if keep:  # same text, same id: only the source's fingerprint is new, so no embedding
            with self.store.write_section():
                self.store.relabel(keep, [{"fingerprint": fp, "file_chunks": len(chunks),
                                           **stored_facts(c, sentence_spans(c.text), self.settings.tokenizer)}
                                          for c in keep])
        self.planned.extend(_Planned(c, fp, len(chunks), bool(have)) for c in chunks if c.id not in have)

    def _note_duplicates(self, source: str, docs: list[Document]) -> None:
        for d in docs:
            key = (d.id, hashlib.blake2b(d.text.encode(), digest_size=16).digest())
            first = self.seen.setdefault(key, source)
            if first != source:
                self.report.duplicates += 1
                if len(self.report.duplicate_examples) < 10:
                    self.report.duplicate_examples.append(
                        Skipped(f"{source}:{d.id}", f"same id and text as in {first}"))

    def finish(self, *, progress: bool) -> None:
        _write(self.planned, self.report, settings=self.settings, embedder=self.embedder, store=self.store,
               progress=progress)
        with self.store.write_section():
            if self.stale:
                self.store.delete(self.stale)
                self.report.removed = len(self.stale)
            self.store.sweep_sentences()
            if self.planned or self.stale:
                self.store.bump_version()

    def start(self) -> None:
        with self.store.write_section():
            self.store.set_chunking(self.params)
            self.store.bump_version()  # readers rebuild derived indexes even if this run is killed half way
        self.states = self.store.source_states()


def ingest(paths: Iterable[str | Path], *, settings: Settings, embedder: Encoder, store: Store,
           progress: bool = True) -> IngestReport:
    t0 = time.perf_counter()
    paths = list(paths)
    report = IngestReport()
    files, report.skipped = discover(paths, exclude=settings.ingest.ingest_exclude)
    report.files = len(files)
    run = _Run(settings, embedder, store, report)

    with store.writer():
        run.start()
        for path in tqdm(files, desc="reading", unit="file", disable=not progress or len(files) < 20,
                         leave=False):
            source = str(path)
            try:
                fp = file_fingerprint(path, run.params)
            except OSError as e:
                report.skipped.append(Skipped(source, f"cannot read: {e.strerror or e}"))
                continue

            def load(path: Path = path) -> list[Document]:
                try:
                    docs, bad = load_file(path)
                except LoadError:
                    raise
                except Exception as e:  # a parser's surprise costs this file, not the run
                    log.exception("loading %s failed", path)
                    raise LoadError(f"unexpected error while loading ({type(e).__name__}: {e})") from e
                report.skipped.extend(bad)
                return docs

            try:
                run.plan(source, fp, load)
            except LoadError as e:
                report.skipped.append(Skipped(source, str(e)))
                continue  # its old chunks stay: a broken file loses nothing

        # Files gone from a folder that was ingested (or named files that no longer exist).
        present = {str(f) for f in files}
        broken = {s.path for s in report.skipped}
        roots = [Path(p).expanduser().resolve() for p in paths]
        for source, state in run.states.items():
            if source not in present and source not in broken and _under(source, roots):
                run.stale.extend(sorted(state.ids))
        run.finish(progress=progress)
    report.seconds = time.perf_counter() - t0
    return report


def ingest_documents(documents: Sequence[Document], *, settings: Settings, embedder: Encoder,
                     store: Store) -> IngestReport:
    """Add or update documents given as text (the HTTP API): each is its own source, ``api:<id>``
    unless it names one; a document sent again unchanged embeds nothing."""
    t0 = time.perf_counter()
    report = IngestReport(files=len(documents))
    run = _Run(settings, embedder, store, report)
    with store.writer():
        run.start()
        for doc in documents:
            h = hashlib.sha256(repr(sorted(run.params.items())).encode())
            h.update(f"{doc.id}\0{doc.title}\0{doc.text}".encode())
            run.plan(doc.source, h.hexdigest()[:32], partial(list, [doc]))
        run.finish(progress=False)
    report.seconds = time.perf_counter() - t0
    return report


def _write(planned: list[_Planned], report: IngestReport, *, settings: Settings, embedder: Encoder,
           store: Store, progress: bool) -> None:
    if not planned:
        return
    # Sorting by length keeps padding low in each forward batch: close to plain encode's throughput.
    planned = sorted(planned, key=lambda p: len(embed_text(p.chunk.title, p.chunk.text)))
    bar = tqdm(total=len(planned), desc="embedding", unit="chunk", disable=not progress)
    step = settings.ingest.write_batch
    for i in range(0, len(planned), step):
        batch = planned[i:i + step]
        spans = [sentence_spans(p.chunk.text) for p in batch]
        texts = [embed_text(p.chunk.title, p.chunk.text) for p in batch]
        texts += [p.chunk.text[s:e] for p, sp in zip(batch, spans, strict=True) for s, e in sp]
        vectors = embedder.encode(texts)
        with store.write_section():
            store.upsert([p.chunk for p in batch], vectors[:len(batch)],
                         [{"fingerprint": p.fingerprint, "file_chunks": p.file_chunks,
                           **stored_facts(p.chunk, sp, settings.tokenizer)}
                          for p, sp in zip(batch, spans, strict=True)],
                         spans, vectors[len(batch):])
        report.embedded += len(batch)
        for p in batch:
            if p.update:
                report.updated += 1
            else:
                report.added += 1
        bar.update(len(batch))
        log.info("wrote batch %d/%d", i // step + 1, -(-len(planned) // step))
    bar.close()
