"""RSS under hostile caller passages: every call sends new long passages (the probe sent two of 99k characters).

    .venv/bin/python scripts/bench_memory.py [--calls 100] [--chars 50000]

One pipeline, as a service holds it; each call retrieves over two passages of fresh random words (nothing
can be reused from an earlier call), then frees memory as the service does (``give_back_memory``). Prints
the process's RSS after the first call (models loaded), after the fifth (the allocator's high-water mark
for these sizes) and every 20 calls, and the memos' own estimate of what they hold. Bounded caches show as
an RSS that levels off; the unbounded ones of the last release grew ~12 MB a call.
"""
from __future__ import annotations

import argparse
import random
import string
import tempfile
from pathlib import Path

from rag import Pipeline, Settings
from rag.index.embedder import one_blas_thread
from rag.memo import give_back_memory, memo_bytes


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def passage(rng: random.Random, chars: int) -> str:
    out, n = [], 0
    while n < chars:
        words = [''.join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10)))
                 for _ in range(rng.randint(8, 20))]
        sentence = " ".join(words).capitalize() + ". "
        out.append(sentence)
        n += len(sentence)
    return "".join(out)[:chars]


def main() -> None:
    one_blas_thread()
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--chars", type=int, default=50_000)
    args = ap.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        p = Pipeline(Settings(store_path=Path(tmp) / "store"))
        first = None
        print("| calls | RSS MB | memos MB (estimate) |\n|---|---|---|")
        for i in range(1, args.calls + 1):
            p.retrieve("What did the committee decide about the harbour?",
                       passages=[passage(rng, args.chars), passage(rng, args.chars)])
            give_back_memory()  # as the service does after a request with caller passages
            if i in (1, 5) or i % 20 == 0:
                rss = rss_mb()
                first = rss if i == 5 else first
                print(f"| {i} | {rss:.0f} | {memo_bytes() / 1e6:.1f} |", flush=True)
        print(f"\ngrowth after the fifth call: {rss_mb() - (first or 0):.0f} MB over {args.calls - 5} calls "
              f"of two {args.chars:,}-character passages")


if __name__ == "__main__":
    main()
