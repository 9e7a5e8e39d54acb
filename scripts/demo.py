"""The main job on the embedded defaults: questions from corpus/questions.jsonl against the store."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rag import Pipeline, Settings


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    questions = [json.loads(line) for line in (root / "corpus" / "questions.jsonl").read_text().splitlines()
                 if line.strip()]
    pipeline = Pipeline.from_settings(Settings())
    for q in questions:
        print(f"\nQ: {q['question']}\n   gold: {q['answer']}  ({q['source']})")
        for chunk, score in pipeline.search(q["question"], k=3):
            text = " ".join(chunk.text.split())
            print(f"   [{score:.2f}] {Path(chunk.source).name}: {text[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
