"""Answer quality and cost, lean context vs. naive top-5, side by side in one run.

For each question of corpus/questions.jsonl and each answerer (extractive, local SmolLM2 through
llama.cpp): exact match, token F1 and "gold contained" against the gold answer, context tokens,
prompt and completion tokens, latency.

    python scripts/bench_answer.py                      # starts `rag llm serve` itself if it is not running
    python scripts/bench_answer.py --answerers extractive
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import httpx

from rag import Pipeline, Settings
from rag.evaluate.metrics import answer_contains, exact_match, median, percentile, token_f1
from rag.evaluate.profiles import NAIVE_TOP5
from rag.llm.local import base_url, server_command
from rag.net import wait_ready

ROOT = Path(__file__).resolve().parents[1]


def local_server(settings: Settings) -> subprocess.Popen | None:
    """Start the llama.cpp server unless one is already answering; None when it was already up."""
    url = base_url(settings) + "/models"
    try:
        httpx.get(url, timeout=2).raise_for_status()
        return None
    except httpx.HTTPError:
        pass
    proc = subprocess.Popen(server_command(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if wait_ready(url, seconds=180, proc=proc):
        return proc
    proc.kill()
    raise SystemExit("the local llama.cpp server did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=".leanrag/store", help="a store with corpus/ ingested (make demo)")
    ap.add_argument("--answerers", default="extractive,local")
    ap.add_argument("--json", metavar="FILE", help="also write per-question rows here")
    args = ap.parse_args()
    questions = [json.loads(line) for line in (ROOT / "corpus" / "questions.jsonl").read_text().splitlines()
                 if line.strip()]
    settings = Settings(store_path=args.store)
    pipeline = Pipeline(settings)
    answerers = args.answerers.split(",")
    server = local_server(settings) if "local" in answerers else None
    rows = []
    try:
        pipeline.answer(questions[0]["question"], answerer=answerers[0])  # warm-up: models loaded, not timed
        for answerer in answerers:
            for profile, overrides in (("naive top-5", NAIVE_TOP5), ("lean", {})):
                for q in questions:
                    ans = pipeline.answer(q["question"], answerer=answerer, **overrides)
                    gold = [q["answer"]]
                    rows.append({"answerer": answerer, "context": profile, "question": q["question"],
                                 "answer": ans.text, "em": exact_match(ans.text, gold),
                                 "f1": token_f1(ans.text, gold), "contains": answer_contains(ans.text, gold),
                                 "context_tokens": ans.context.tokens, "prompt_tokens": ans.usage.prompt_tokens,
                                 "completion_tokens": ans.usage.completion_tokens,
                                 "answer_tokens": ans.usage.answer_tokens, "ms": ans.timings["total_ms"],
                                 "answer_ms": ans.timings["answer_ms"]})
    finally:
        if server is not None:
            server.terminate()
    print(f"{len(questions)} questions of corpus/questions.jsonl; medians except EM, F1, contains (means)\n")
    print(f"{'answerer':<11} {'context':<12} {'EM':>5} {'F1':>5} {'contains':>8} {'ctx tok':>7} {'prompt':>6} "
          f"{'compl.':>6} {'ms':>7} {'p90 ms':>7}")
    for answerer in answerers:
        for profile in ("naive top-5", "lean"):
            rs = [r for r in rows if r["answerer"] == answerer and r["context"] == profile]
            n = len(rs)
            print(f"{answerer:<11} {profile:<12} {sum(r['em'] for r in rs) / n:>5.2f} "
                  f"{sum(r['f1'] for r in rs) / n:>5.2f} {sum(r['contains'] for r in rs) / n:>8.2f} "
                  f"{median([r['context_tokens'] for r in rs]):>7.0f} {median([r['prompt_tokens'] for r in rs]):>6.0f} "
                  f"{median([r['completion_tokens'] for r in rs]):>6.0f} {median([r['ms'] for r in rs]):>7.0f} "
                  f"{percentile([r['ms'] for r in rs], 0.9):>7.0f}")
    if args.json:
        Path(args.json).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
