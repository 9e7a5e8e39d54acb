"""Graceful on a busy machine: /v1/retrieve at 1, 2 and 4 concurrent clients, over the store and over caller
passages (10 HotpotQA paragraphs a question), on an idle machine and beside a CPU-bound neighbour process.

A phase over caller passages sends 16 requests in all (1 client x 16, 2 x 8, 4 x 4), each phase its own
questions, so caller passages are never already in the service's cache. A phase over the store sends
--store-requests (240) and runs --repeats (3) times; the run with the median req/s is reported. The
neighbour is another process spinning on both cores (numpy products on two BLAS threads), as a second
service or a batch job on the same machine would.

    .venv/bin/python scripts/bench_busy.py [--store .leanrag/store]   # the store of `make demo`
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import free_port, run_phase  # noqa: E402

from rag.evaluate.datasets import hotpotqa  # noqa: E402
from rag.net import wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOTPOT = ROOT.parent / "shared/data/hotpotqa-distractor-sample/hotpotqa_distractor_sample.jsonl"
PER_PHASE = 16  # 6 phases over caller passages use 96 of the 100 HotpotQA questions


def spin(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).random((600, 600))
    with threadpool_limits(2, user_api="blas"):
        while not stop.is_set():
            a = a @ a
            a /= np.abs(a).max()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=".leanrag/store")
    ap.add_argument("--store-requests", type=int, default=240,
                    help="requests a phase over the store (a request takes ~15 ms: 16 made a phase of 0.25 s)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each store phase; the median req/s is kept")
    ap.add_argument("--log", default=".leanrag/bench/busy-serve.log", help="the service's own log, for any 500")
    args = ap.parse_args()
    store_qs = [{"question": json.loads(x)["question"]}
                for x in (ROOT / "corpus" / "questions.jsonl").read_text().splitlines() if x.strip()]
    hot = hotpotqa(HOTPOT)
    passage_qs = [{"question": q.text, "passages": q.passages} for q in hot]
    port = free_port()
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    log = Path(args.log).open("w")
    server = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--store", args.store],
                              env={**os.environ, "RAG_ANSWERER": "extractive"}, stdout=log, stderr=log)
    url, rows, used = f"http://127.0.0.1:{port}", [], 0
    try:
        if not wait_ready(f"{url}/readyz", seconds=300, proc=server):
            raise SystemExit("rag serve did not become ready (is there a store at --store? make demo)")
        run_phase(url, "/v1/retrieve", store_qs, 1, 3, 60)  # warm-up
        run_phase(url, "/v1/retrieve", passage_qs[-2:], 1, 2, 60)
        for neighbour in (False, True):
            stop = multiprocessing.Event()
            spinner = multiprocessing.Process(target=spin, args=(stop,)) if neighbour else None
            if spinner:
                spinner.start()
            try:
                for kind, bodies in (("store", store_qs), ("passages", passage_qs)):
                    for clients in (1, 2, 4):
                        if kind == "passages":  # fresh questions: nothing of theirs is cached yet
                            bodies, used = passage_qs[used:used + PER_PHASE], used + PER_PHASE
                            row = run_phase(url, "/v1/retrieve", bodies, clients, PER_PHASE // clients, 600)
                        else:
                            runs = [run_phase(url, "/v1/retrieve", bodies, clients, args.store_requests // clients,
                                              600) for _ in range(args.repeats)]
                            row = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
                        rows.append({**row, "kind": kind, "neighbour": neighbour})
                        print(json.dumps(rows[-1]), flush=True)
            finally:
                stop.set()
                if spinner:
                    spinner.join(timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    print(f"\n/v1/retrieve, rag serve (1 worker, defaults), {os.cpu_count()} cores, client and server on this machine")
    print(f"{'over':<9} {'neighbour':<9} {'clients':>7} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'p50 / 1 client':>15}")
    for r in rows:
        base = next(b for b in rows if b["kind"] == r["kind"] and b["neighbour"] == r["neighbour"]
                    and b["clients"] == 1)
        print(f"{r['kind']:<9} {'yes' if r['neighbour'] else 'no':<9} {r['clients']:>7} {r['rps']:>6.1f} "
              f"{r['p50']:>7.0f} {r['p99']:>7.0f} {r['p50'] / base['p50']:>15.2f}"
              + (f"  errors {r['errors']}: {r['first_error']}" if r["errors"] else ""))
    if any(r["errors"] for r in rows):
        print(f"the service's log: {args.log}")


if __name__ == "__main__":
    main()
