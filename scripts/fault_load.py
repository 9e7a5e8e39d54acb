"""A bounded fault-and-load run on loopback: everything a hostile or careless world does at once.

Starts a `chroma run` server, the OpenAI-compatible test server (tests/fake_openai.py) and `rag serve`
(with a key, answering through the test server), then for --seconds runs side by side: retrieval and
answer clients, clients that drop streamed answers, oversized and hostile requests, and two `rag
ingest` processes re-ingesting overlapping, changing corpora into the same Chroma server. It stops by
itself and prints requests by kind and status, the model and retrieval slots still in use (must be 0),
the server's chunk ids against one clean ingest of the final files (must be equal), and the largest
context any request obtained against the operator's ceilings. Exit 0 only when all of these hold and
no request got a 5xx.

    python scripts/fault_load.py --seconds 60
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.net import wait_ready  # noqa: E402
from tests.fake_openai import API_KEY, ServerThread  # noqa: E402

KEY = "fault-and-load-run-key"
BUDGET, MAX_PASSAGES, COMPLETION = 200, 4, 2000  # the operator's ceilings for this run
HOSTILE: list[dict] = [  # each must be refused with a 4xx
    {"overrides": {"token_budget": None}},
    {"overrides": {"token_budget": "100000"}},
    {"overrides": {"max_passages": None, "min_score": 0, "sentence_prune": False}},
    {"overrides": {"hop_budget": 10**9}},
    {"overrides": {"max_completion_tokens": 10**6}},
    {"overrides": {"store_path": "/tmp/elsewhere"}},
    {"overrides": {"llm_base_url": "http://attacker.example/v1"}},
    {"overrides": {"abstain_below": None}},
    {"overrides": {"abstain_learned_above": None}},
    {"overrides": {"abstain_learned_above": 1.0}},
    {"overrides": {"reasoning_effort": "high"}},
    {"overrides": {"reranker": "llm"}},
    {"overrides": {"answerer": "local"}},
    {"overrides": {"embedding_base_url": "http://attacker.example/v1"}},
    {"overrides": {"tokn_budget": 10}},
    {"where": {"$bogus": 1}},
    {"where": {"$and": [{"$and": [{"$and": [{"$and": [{"$and": [{"$and": [{"$and": [{"$and": [{"$and": [
        {"$and": [{"doc_id": "d"}, {"doc_id": "d"}]}, {"doc_id": "d"}]}]}]}]}]}]}]}]}]}},
    {"question": ""},
    {"question": "x" * 5000},
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.status: collections.Counter[tuple[str, str]] = collections.Counter()
        self.max_tokens = self.max_passages = 0
        self.bad: list[str] = []

    def note(self, kind: str, status: str, detail: str = "", ctx: dict | None = None) -> None:
        with self.lock:
            self.status[(kind, status)] += 1
            if status.startswith("5") or status == "error":
                self.bad.append(f"{kind} {status} {detail[:160]}")
            if ctx is not None:
                self.max_tokens = max(self.max_tokens, int(ctx["tokens"]))
                self.max_passages = max(self.max_passages, len(ctx["passages"]))


def client_loop(kind: str, url: str, deadline: float, tally: Tally, step: Callable[[httpx.Client], None]) -> None:
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as http:
        while time.monotonic() < deadline:
            try:
                step(http)
            except httpx.HTTPError as e:
                tally.note(kind, "error", repr(e))


def steps(tally: Tally, questions: list[str]) -> dict[str, Callable[[httpx.Client], None]]:
    rnd = random.Random(7)

    def retrieve(http: httpx.Client) -> None:
        r = http.post("/v1/retrieve", json={"question": rnd.choice(questions)})
        tally.note("retrieve", str(r.status_code), r.text, r.json() if r.status_code == 200 else None)

    def answer(http: httpx.Client) -> None:
        r = http.post("/v1/answer", json={"question": rnd.choice(questions)})
        tally.note("answer", str(r.status_code), r.text, r.json()["context"] if r.status_code == 200 else None)

    def dropped_stream(http: httpx.Client) -> None:
        body = {"model": "leanrag", "stream": True, "messages": [{"role": "user", "content": rnd.choice(questions)}]}
        with http.stream("POST", "/v1/chat/completions", json=body) as r:
            status = str(r.status_code)
            if r.status_code == 200 and rnd.random() < 0.5:
                next(r.iter_lines(), None)  # half leave after the first event, half before any
        tally.note("dropped stream", status)

    def oversized(http: httpx.Client) -> None:
        passages = ["A sentence that says little. " * 400] * 30  # ~360k characters
        r = http.post("/v1/retrieve", json={"question": rnd.choice(questions), "passages": passages})
        tally.note("oversized", str(r.status_code), r.text)
        if r.status_code < 400:
            tally.bad.append("an oversized request was served")

    def hostile(http: httpx.Client) -> None:
        body = {"question": rnd.choice(questions), **rnd.choice(HOSTILE)}
        r = http.post(rnd.choice(["/v1/retrieve", "/v1/answer"]), json=body)
        tally.note("hostile", str(r.status_code), r.text)
        if r.status_code < 400:
            tally.bad.append(f"a hostile request was served: {json.dumps(body)[:120]}")

    def no_key(http: httpx.Client) -> None:
        r = http.post("/v1/retrieve", json={"question": "q"}, headers={"Authorization": "Bearer not-the-key"})
        tally.note("no key", str(r.status_code), r.text)

    return {"retrieve": retrieve, "answer": answer, "dropped stream": dropped_stream, "oversized": oversized,
            "hostile": hostile, "no key": no_key}


def corpora(work: Path) -> tuple[Path, Path]:
    """Two overlapping folders over copies of the sample corpus (the middle files are in both)."""
    files = sorted(f for f in (ROOT / "corpus").iterdir() if f.suffix == ".md")
    left, right = work / "left", work / "right"
    shared = work / "shared"
    for d in (left, right, shared):
        d.mkdir(parents=True)
    third = len(files) // 3
    for f in files[:third]:
        shutil.copy(f, left / f.name)
    for f in files[third:2 * third]:
        shutil.copy(f, shared / f.name)
    for f in files[2 * third:]:
        shutil.copy(f, right / f.name)
    return left, right


def ingest_loop(folders: list[Path], env: dict[str, str], deadline: float, changed: Path, out: list[str]) -> None:
    """Re-ingest until the deadline; each round first changes one file so the round has work to do."""
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        with changed.open("a") as f:
            f.write(f"\n\nA line added in round {rounds} by {folders[0].name}.\n")
        p = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", *map(str, folders), "--json"],
                           env=env, capture_output=True, text=True, timeout=900)
        out.append(f"{folders[0].name}: round {rounds} exit {p.returncode}")
        if p.returncode != 0:
            out.append(p.stderr[-400:])


def chunk_ids(env: dict[str, str]) -> set[str]:
    code = ("import json; from rag import Pipeline, Settings; s = Pipeline(Settings()).store(); "
            "print(json.dumps(s.collection.get(include=[])['ids']))")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True)
    return set(json.loads(p.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the clients and ingests run")
    ap.add_argument("--clients", type=int, default=2, help="clients per kind")
    ap.add_argument("--keep", action="store_true", help="keep the work folder and the service log")
    args = ap.parse_args()
    questions = [json.loads(x)["question"] for x in (ROOT / "corpus" / "questions.jsonl").read_text().splitlines()
                 if x.strip()]
    work = Path(tempfile.mkdtemp(prefix="leanrag-fault-"))
    left, right = corpora(work)
    shared = work / "shared"
    chroma_port, api_port = free_port(), free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    server_env = {**base, "RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(chroma_port),
                  "RAG_WRITE_BATCH": "4", "RAG_CONFIG": str(work / "absent.toml")}
    procs: list[subprocess.Popen] = []
    tally, log_lines = Tally(), []
    try:
        procs.append(subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path",
                                       str(work / "chroma"), "--host", "127.0.0.1", "--port", str(chroma_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if not wait_ready(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", seconds=60, proc=procs[0]):
            raise SystemExit("chroma run did not start")
        subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(shared)], env=server_env, check=True,
                       capture_output=True, timeout=900)
        with ServerThread(free_port()) as llm:
            api_env = {**server_env, "RAG_API_KEY": KEY, "RAG_ANSWERER": "openai", "RAG_LLM_BASE_URL": llm.url,
                       "RAG_LLM_MODEL": "o3-mini", "OPENAI_API_KEY": API_KEY, "RAG_TOKEN_BUDGET": str(BUDGET),
                       "RAG_MAX_PASSAGES": str(MAX_PASSAGES), "RAG_MAX_COMPLETION_TOKENS": str(COMPLETION),
                       "RAG_API_MAX_CONCURRENT_LLM": "2", "RAG_API_MAX_CONCURRENT_RETRIEVALS": "4"}
            service_log = (work / "service.log").open("w")
            procs.append(subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(api_port)],
                                          env=api_env, stdout=subprocess.DEVNULL, stderr=service_log))
            url = f"http://127.0.0.1:{api_port}"
            if not wait_ready(f"{url}/readyz", seconds=300, proc=procs[-1]):
                raise SystemExit("rag serve did not become ready:\n" + (work / "service.log").read_text()[-2000:])
            deadline = time.monotonic() + args.seconds
            threads = [threading.Thread(target=ingest_loop, args=(folders, server_env, deadline, changed, log_lines))
                       for folders, changed in (([left, shared], left / sorted(os.listdir(left))[0]),
                                                ([shared, right], right / sorted(os.listdir(right))[0]))]
            threads += [threading.Thread(target=client_loop, args=(kind, url, deadline, tally, step))
                        for kind, step in steps(tally, questions).items() for _ in range(args.clients)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - t0
            time.sleep(1.0)  # streams closed by clients are released by the server's next event
            metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=30).text
            upstream = httpx.get(f"{llm.root}/_requests", timeout=30).json()
        slots = {name: float(line.split()[-1]) for line in metrics.splitlines()
                 for name in ("leanrag_model_calls_in_flight", "leanrag_retrievals_in_flight")
                 if line.startswith(name + " ")}
        largest_completion = max((int(r["body"].get("max_completion_tokens") or r["body"].get("max_tokens") or 0)
                                  for r in upstream),
                                 default=0)
        served_ids = chunk_ids(server_env)
        clean_env = {**base, "RAG_STORE_PATH": str(work / "clean"), "RAG_CONFIG": str(work / "absent.toml")}
        subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(left), str(shared), str(right)],
                       env=clean_env, check=True, capture_output=True, timeout=900)
        clean_ids = chunk_ids(clean_env)
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=30)
        if args.keep:
            print(f"kept {work} (service.log: the service's own log)")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"fault-and-load on loopback for {wall:.0f} s, {args.clients} client(s) per kind, "
          f"{os.cpu_count()} cores; operator ceilings: token_budget {BUDGET}, max_passages {MAX_PASSAGES}, "
          f"max completion {COMPLETION}\n")
    print(f"{'kind':<16} {'status':>6} {'requests':>8}")
    for (kind, status), n in sorted(tally.status.items()):
        print(f"{kind:<16} {status:>6} {n:>8}")
    print("\ningest rounds: " + "; ".join(x for x in log_lines if "round" in x))
    checks = {
        "no 5xx and no transport error": not tally.bad,
        f"slots in use at the end: {slots}": bool(slots) and all(v == 0 for v in slots.values()),
        f"chunk ids equal to a clean ingest ({len(served_ids)} vs {len(clean_ids)})": served_ids == clean_ids,
        f"largest context {tally.max_tokens} tokens / {tally.max_passages} passages within ceilings":
            tally.max_tokens <= BUDGET and tally.max_passages <= MAX_PASSAGES,
        f"largest completion budget sent upstream {largest_completion} <= {COMPLETION}":
            0 < largest_completion <= COMPLETION,
        "every ingest round succeeded": all("exit 0" in x for x in log_lines if "round" in x),
    }
    print()
    for what, ok in checks.items():
        print(f"{'ok ' if ok else 'FAIL'} {what}")
    for line in sorted(set(tally.bad))[:10]:
        print("  ", line)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
