"""How retrieval grows with the store: retrieve p50/p90 and the service's memory at 10k, 100k and 1M chunks.

The stores are synthetic, written straight into embedded Chroma through ``Store.upsert`` (no encoder: a
million chunks would take this machine weeks to embed):
- texts: three sentences of 10-20 words drawn from a 30,000-word vocabulary with Zipf frequencies
  (s = 1.1), so BM25 sees realistic postings; titles are two words;
- vectors: 384 dimensions like all-MiniLM-L6-v2, around 2,000 random unit centroids (a topical corpus
  clusters); a chunk's sentences lie near their chunk. Unit length, float32.
Queries are 40 sentences taken from stored chunks (a few words changed), so each has real lexical and
dense neighbours; the question's vector comes from the real encoder, as in service. Each size is measured
in a fresh process: RSS after opening the store and loading everything a first query loads, then 40
timed retrieves after 5 warm-up ones, twice: the first process saves the BM25 index of a store too large
to hold whole, the next maps it. The store route (in-memory mirror or Chroma's HNSW) is read from the
trace.

    .venv/bin/python scripts/bench_scale.py --sizes 10000,100000,1000000 [--root .leanrag/scale]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIM, CENTROIDS, VOCAB, BATCH = 384, 2000, 30_000, 2000


def vocabulary(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    syllables = ["ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "ve", "zu", "an", "el", "or", "is", "um", "et"]
    words = sorted({"".join(rng.choice(syllables, size=rng.integers(2, 5))) for _ in range(VOCAB * 2)})[:VOCAB]
    weights = 1.0 / np.arange(1, len(words) + 1) ** 1.1
    return words, weights / weights.sum()


def build(path: Path, size: int) -> None:
    from rag import Settings
    from rag.index.store import open_store
    from rag.ingest.ingest import stored_facts
    from rag.types import Chunk

    rng = np.random.default_rng(size)
    words, p = vocabulary(rng)
    centroids = rng.standard_normal((CENTROIDS, DIM)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    settings = Settings(store_path=path)
    store = open_store(settings, DIM, create=True)
    t0 = time.perf_counter()
    added = False
    for start in range(store.count(), size, BATCH):  # resumes a build that was cut short
        added = True
        n = min(BATCH, size - start)
        chunks, spans, extra = [], [], []
        drawn = iter(rng.choice(len(words), size=n * 3 * 20, p=p))  # one draw per batch: choice with p is slow
        for i in range(start, start + n):
            sentences = [" ".join(words[next(drawn)] for _ in range(int(rng.integers(10, 21)))).capitalize() + "."
                         for _ in range(3)]
            text = " ".join(sentences)
            at, sp = 0, []
            for s in sentences:
                sp.append((at, at + len(s)))
                at += len(s) + 1
            chunks.append(Chunk(f"c{i}", f"d{i}", f"synthetic/{i // 1000}.txt", f"{words[i % 977]} {words[i % 331]}",
                                text, 0, 0, len(text), 0))
            spans.append(sp)
            extra.append(stored_facts(chunks[-1], sp, settings.tokenizer))
        topic = centroids[rng.integers(0, CENTROIDS, n)]
        vecs = topic + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(DIM)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        sent = np.repeat(vecs, 3, axis=0) + 0.5 * rng.standard_normal((3 * n, DIM)).astype(np.float32) / np.sqrt(DIM)
        sent /= np.linalg.norm(sent, axis=1, keepdims=True)
        store.upsert(chunks, vecs, extra, spans, sent.astype(np.float32))
        if (start // BATCH) % 25 == 0:
            print(f"  {start + n} chunks, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    if not store.version() or added:  # as an ingest leaves it: a new version mark (it names the saved BM25 index)
        store.bump_version()
    print(f"built {size} chunks in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def measure(path: Path) -> dict:
    """In this (fresh) process: open, load, then time retrieves."""
    from rag import Pipeline, Settings
    from rag.index.embedder import one_blas_thread

    one_blas_thread()
    import torch

    torch.set_num_threads(1)
    p = Pipeline(Settings(store_path=path, answerer="extractive"))
    p.embedder.encode(["warm up"])  # the model and its first forward pass's buffers are not the store's
    before = rss_mb()
    rng = np.random.default_rng(7)
    sample = p.store().chunks([f"c{int(i)}" for i in rng.integers(0, p.store().count(), 45)])
    questions = []
    for c in sample:
        words = c.text.split(". ")[0].split()
        words[int(rng.integers(0, len(words)))] = "what"
        questions.append(" ".join(words) + "?")
    t0 = time.perf_counter()
    first = p.retrieve(questions[0])
    load_s = time.perf_counter() - t0
    for q in questions[1:5]:
        p.retrieve(q)
    after = rss_mb()
    ms, route = [], ""
    for q in questions[5:]:
        ctx = p.retrieve(q)
        ms.append(sum(s.ms for s in ctx.trace.stages if s.name != "load"))
        route = ctx.trace.stage("candidates").note
    ms.sort()
    return {"chunks": p.store().count(), "p50_ms": ms[len(ms) // 2], "p90_ms": ms[int(len(ms) * 0.9)],
            "first_query_s": round(load_s, 1), "rss_store_mb": round(after - before), "route": route,
            "load_note": first.trace.stage("load").note}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--root", default=str(ROOT / ".leanrag" / "scale"))
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # one size, in a child process
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return
    rows = []
    for size in (int(x) for x in args.sizes.split(",")):
        path = Path(args.root) / str(size)
        build(path, size)
        # twice, each in a new process: the first finds no saved BM25 index for a store too large to hold
        # whole and saves one (as `rag ingest` does); the second maps it, as every later process does
        for run in ("first process", "next process"):
            out = subprocess.run([sys.executable, __file__, "--measure", str(path)], capture_output=True,
                                 text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            rows.append({**json.loads(out.stdout.strip().splitlines()[-1]), "run": run})
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'chunks':>9} {'run':>13} {'p50 ms':>7} {'p90 ms':>7} {'RSS MB':>7} {'first query s':>13}  route")
    for r in rows:
        print(f"{r['chunks']:>9} {r['run']:>13} {r['p50_ms']:>7.0f} {r['p90_ms']:>7.0f} {r['rss_store_mb']:>7} "
              f"{r['first_query_s']:>13}  {r['route']}")
    print(f"p50 at the largest / smallest: {rows[-1]['p50_ms'] / rows[0]['p50_ms']:.2f}")


if __name__ == "__main__":
    main()
