"""Ingest throughput vs. plain SentenceTransformer.encode of the same texts, in one process; or, with
--workers N, `rag ingest --workers N` vs one process into a `chroma run` server (wall time of the whole
command, start-up included; the corpus is cut into 8 files, since files are the unit of work).

    .venv/bin/python scripts/bench_ingest.py [--corpus ../shared/data/scifact/corpus.jsonl] [--docs 500]
    .venv/bin/python scripts/bench_ingest.py --docs 1000 --workers 2
    .venv/bin/python scripts/bench_ingest.py --docs 300 --endpoint   # local encoding vs /v1/embeddings
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rag import Pipeline, Settings
from rag.text import embed_text, sentence_spans

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared/data/scifact/corpus.jsonl"))
    ap.add_argument("--docs", type=int, help="only the first N lines of a .jsonl corpus")
    ap.add_argument("--workers", type=int, help="compare `rag ingest --workers N` with one process")
    ap.add_argument("--endpoint", action="store_true", help="compare local encoding with the openai backend "
                    "against the test server (tests/fake_openai.py, the same MiniLM behind /v1/embeddings)")
    args = ap.parse_args()
    if args.endpoint:
        compare_endpoint(Path(args.corpus), args.docs or 300)
        return
    if args.workers:
        compare_workers(Path(args.corpus), args.docs, args.workers)
        return
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
        p.embedder.model.encode(texts, batch_size=p.settings.ingest.embedding_batch_size, normalize_embeddings=True)
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


def compare_workers(corpus: Path, docs: int | None, workers: int) -> None:
    from rag.net import wait_ready

    with corpus.open() as f:
        lines = [line for _, line in zip(range(docs or 10**9), f, strict=False)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "parts"
        folder.mkdir()
        for i in range(8):
            (folder / f"part{i}.jsonl").write_text("".join(lines[i::8]))
        port = 18000 + os.getpid() % 1000
        chroma = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path", f"{tmp}/chroma",
                                   "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not wait_ready(f"http://127.0.0.1:{port}/api/v2/heartbeat", seconds=60, proc=chroma):
                raise SystemExit("chroma run did not start")
            env = {**os.environ, "RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(port)}
            rows = {}
            for n in (1, workers):
                t0 = time.perf_counter()
                out = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(folder), "--json",
                                      "--workers", str(n), "--collection", f"workers-{n}"],
                                     env=env, capture_output=True, text=True, check=True)
                rows[n] = (time.perf_counter() - t0, json.loads(out.stdout))
        finally:
            chroma.terminate()
            chroma.wait(timeout=30)
    print(f"{len(lines)} abstracts in 8 files, into one `chroma run` server on loopback, {os.cpu_count()} cores")
    for n, (wall, rep) in rows.items():
        print(f"--workers {n}: {wall:.1f} s wall (start-up included), {rep['embedded']} chunks, "
              f"{rep['embedded'] / wall:.1f} chunks/s")
    print(f"throughput {workers} workers / 1: {rows[1][0] / rows[workers][0]:.2f}")


def compare_endpoint(corpus: Path, docs: int) -> None:
    """One process ingests the same abstracts twice: encoding them itself, then through /v1/embeddings of a
    test server in another process on this machine. The server runs the same model on the same two cores, so
    the ratio is what the wire costs (JSON floats, HTTP); a GPU server takes the encoding off this machine."""
    from rag.net import wait_ready

    sys.path.insert(0, str(ROOT))
    from tests.fake_openai import API_KEY

    with corpus.open() as f:
        lines = [line for _, line in zip(range(docs), f, strict=False)]
    port = 19000 + os.getpid() % 1000
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "tests.fake_openai:create_app", "--factory",
                               "--port", str(port), "--log-level", "warning"], cwd=ROOT)
    rows = {}
    try:
        if not wait_ready(f"http://127.0.0.1:{port}/v1/models", seconds=60, proc=server):
            raise SystemExit("the test server did not start")
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "c").mkdir()
            (Path(tmp) / "c" / "corpus.jsonl").write_text("".join(lines))
            remote = {"embedding_backend": "openai", "embedding_base_url": f"http://127.0.0.1:{port}/v1",
                      "embedding_api_key": API_KEY}
            for name, extra in (("local", {}), ("endpoint", remote)):
                p = Pipeline(Settings(store_path=Path(tmp) / name, **extra))
                p.embedder.encode(["warm up"])  # model load (here or in the server) is not throughput
                rows[name] = p.ingest([Path(tmp) / "c"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"{docs} SciFact abstracts, {os.cpu_count()} cores, server and client on this machine")
    for name, rep in rows.items():
        print(f"{name:9s} {rep.seconds:6.1f} s  {rep.embedded} chunks  {rep.embedded / rep.seconds:.1f} chunks/s")
    print(f"endpoint / local time: {rows['endpoint'].seconds / rows['local'].seconds:.2f}")


if __name__ == "__main__":
    main()
