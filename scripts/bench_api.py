"""A bounded load test of the HTTP API on loopback: throughput, p50/p99 latency and errors.

Starts `rag serve` on a free loopback port over an existing store (`make demo` builds one), then for
/v1/retrieve and /v1/answer: one client for M requests (the baseline), then N concurrent clients for
M requests each. Questions cycle through corpus/questions.jsonl. Bounded: at most N*M requests per
phase and --max-seconds per phase.

    python scripts/bench_api.py                     # N=4, M=50, answerer extractive
    python scripts/bench_api.py --clients 8 --requests 100 --answerer local   # needs `rag llm serve`
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from rag.evaluate.metrics import median, percentile
from rag.net import wait_ready

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_phase(url: str, route: str, bodies: list[dict], clients: int, per_client: int, max_seconds: float) -> dict:
    """``clients`` threads, each posting ``per_client`` of ``bodies`` (client k starts at 7k, cycling)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + max_seconds

    def client(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in range(per_client):
                if time.perf_counter() > deadline:
                    return
                body = bodies[(offset + i) % len(bodies)]
                t0 = time.perf_counter()
                try:
                    r = http.post(route, json=body)
                    ok = r.status_code == 200
                    detail = f"{r.status_code} {r.text[:120]}"
                except httpx.HTTPError as e:
                    ok, detail = False, repr(e)
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    (latencies.append(ms) if ok else errors.append(detail))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k * 7,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"route": route, "clients": clients, "requests": len(latencies) + len(errors), "errors": len(errors),
            "rps": len(latencies) / wall, "p50": median(latencies), "p99": percentile(latencies, 0.99),
            "first_error": errors[0] if errors else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=".leanrag/store")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=50, help="per client")
    ap.add_argument("--max-seconds", type=float, default=300, help="per phase")
    ap.add_argument("--answerer", default="extractive")
    ap.add_argument("--workers", type=int, default=1, help="more than one starts `chroma run` over --store")
    ap.add_argument("--chroma", action="store_true", help="serve over `chroma run` even with one worker")
    args = ap.parse_args()
    questions = [{"question": json.loads(x)["question"]}
                 for x in (ROOT / "corpus" / "questions.jsonl").read_text().splitlines() if x.strip()]
    port = free_port()
    env = {**os.environ, "RAG_ANSWERER": args.answerer, "RAG_API_WORKERS": str(args.workers)}
    chroma = None
    if args.workers > 1 or args.chroma:  # embedded Chroma has one writer: workers share a Chroma server
        chroma_port = free_port()
        chroma = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path", args.store,
                                   "--host", "127.0.0.1", "--port", str(chroma_port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env.update(RAG_CHROMA_HOST="127.0.0.1", RAG_CHROMA_PORT=str(chroma_port))
        if not wait_ready(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", seconds=60, proc=chroma):
            raise SystemExit("chroma run did not start")
    server = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--store", args.store],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_ready(f"{url}/readyz", seconds=300, proc=server):
            raise SystemExit("rag serve did not become ready (exited? is there a store at --store? make demo)")
        for route in ("/v1/retrieve", "/v1/answer"):  # warm-up: first-call costs are not measured
            run_phase(url, route, questions, 1, 3, 60)
        rows = []
        for route in ("/v1/retrieve", "/v1/answer"):
            rows.append(run_phase(url, route, questions, 1, args.requests, args.max_seconds))
            rows.append(run_phase(url, route, questions, args.clients, args.requests, args.max_seconds))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if chroma is not None:
            chroma.terminate()
            chroma.wait(timeout=30)
    print(f"rag serve on loopback, {args.workers} worker(s)"
          f"{' over a chroma run server' if chroma else ''}, answerer {args.answerer}; {os.cpu_count()} cores, "
          f"client and server on the same machine\n")
    print(f"{'route':<14} {'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for r in rows:
        print(f"{r['route']:<14} {r['clients']:>7} {r['requests']:>8} {r['errors']:>6} {r['rps']:>7.1f} "
              f"{r['p50']:>7.0f} {r['p99']:>7.0f}" + (f"  first error: {r['first_error']}" if r["errors"] else ""))
    single, many = rows[0], rows[1]
    print(f"\n/v1/retrieve p99 with {args.clients} clients / single-client median: {many['p99'] / single['p50']:.2f} "
          f"(target <= 3)")
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
