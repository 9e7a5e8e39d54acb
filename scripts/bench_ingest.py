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
from rag.text import sentence_spans

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared/data/scifact/corpus.jsonl"))
    ap.add_argument("--docs", type=int, help="only the first N lines of a .jsonl corpus")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.docs:
            part = Path(tmp) / "corpus" / Path(args.corpus).name
            part.parent.mkdir()
            with open(args.corpus) as f:
                part.write_text("".join(line for _, line in zip(range(args.docs), f, strict=False)))
            args.corpus = str(part)
        p = Pipeline(Settings(store_path=Path(tmp) / "store"))
        p.embedder.encode(["warm up"])  # model load is not ingest throughput
        first = p.ingest([args.corpus], progress=True)
        second = p.ingest([args.corpus], progress=False)
        chunks = p.store().all_chunks()
        # exactly what the pipeline embedded: each chunk with its title, and each of its sentences
        texts = [embed_text(c.title, c.text) for c in chunks]
        texts += [c.text[a:b] for c in chunks for a, b in sentence_spans(c.text)]
        t0 = time.perf_counter()
        p.embedder.model.encode(texts, batch_size=p.settings.embedding_batch_size, normalize_embeddings=True)
        plain = time.perf_counter() - t0
    words = statistics.median(len(t.split()) for t in texts)
    pipe_tp = len(texts) / first.seconds
    plain_tp = len(texts) / plain
    print(f"corpus: {args.corpus}")
    print(f"chunks: {first.embedded}, texts embedded with their sentences: {len(texts)} "
          f"(median {words:.0f} words)  skipped: {len(first.skipped)}")
    print(f"first ingest: {first.seconds:.1f} s, {first.embedded / first.seconds:.1f} chunks/s, {pipe_tp:.1f} texts/s")
    print(f"plain encode of the same texts: {plain:.1f} s, {plain_tp:.1f} texts/s")
    print(f"pipeline / plain throughput: {pipe_tp / plain_tp:.2f}")
    print(f"unchanged re-ingest: {second.seconds:.2f} s = {100 * second.seconds / first.seconds:.1f}% of the first"
          f" (embedded {second.embedded})")


if __name__ == "__main__":
    main()
