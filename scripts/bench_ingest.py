"""Ingest throughput vs. plain SentenceTransformer.encode of the same texts, in one process.

    .venv/bin/python scripts/bench_ingest.py [--corpus ../shared/data/scifact/corpus.jsonl]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rag import Pipeline, Settings
from rag.ingest.split import embed_text

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared/data/scifact/corpus.jsonl"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        p = Pipeline(Settings(store_path=Path(tmp) / "store"))
        p.embedder.encode(["warm up"])  # model load is not ingest throughput
        first = p.ingest([args.corpus], progress=True)
        second = p.ingest([args.corpus], progress=False)
        chunks = p.store().all_chunks()
        texts = [embed_text(c.title, c.text) for c in chunks]
        t0 = time.perf_counter()
        p.embedder.model.encode(texts, batch_size=p.settings.embedding_batch_size, normalize_embeddings=True)
        plain = time.perf_counter() - t0
    words = statistics.median(len(t.split()) for t in texts)
    pipe_tp = first.embedded / first.seconds
    plain_tp = len(texts) / plain
    print(f"corpus: {args.corpus}")
    print(f"chunks: {first.embedded} (median {words:.0f} words)  skipped: {len(first.skipped)}")
    print(f"first ingest: {first.seconds:.1f} s, {pipe_tp:.1f} chunks/s")
    print(f"plain encode of the same texts: {plain:.1f} s, {plain_tp:.1f} chunks/s")
    print(f"pipeline / plain throughput: {pipe_tp / plain_tp:.2f}")
    print(f"unchanged re-ingest: {second.seconds:.2f} s = {100 * second.seconds / first.seconds:.1f}% of the first"
          f" (embedded {second.embedded})")


if __name__ == "__main__":
    main()
