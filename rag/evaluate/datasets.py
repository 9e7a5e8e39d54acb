"""Evaluation datasets behind one shape: questions with what counts as a right context."""
from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Question:
    id: str
    text: str
    answers: list[str] = field(default_factory=list)  # gold answer strings (SQuAD, HotpotQA, corpus)
    relevant: dict[str, int] = field(default_factory=dict)  # doc_id -> grade (BEIR qrels)
    passages: list[dict] | None = None  # per-question passages (HotpotQA), else the store
    support: list[str] = field(default_factory=list)  # supporting sentences that must survive (HotpotQA)


def read_jsonl(path: Path) -> list[dict]:
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def beir(folder: Path, split: str = "test") -> list[Question]:
    """BEIR layout: queries.jsonl + qrels/<split>.tsv (the corpus is ingested separately)."""
    folder = Path(folder)
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / f"{split}.tsv").open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            score = int(row["score"])
            if score > 0:
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = score
    texts = {q["_id"]: q["text"] for q in read_jsonl(folder / "queries.jsonl")}
    return [Question(qid, texts[qid], relevant=rel) for qid, rel in qrels.items() if qid in texts]


def squad_pairs(path: Path) -> list[Question]:
    """Every (question, answers) of the official SQuAD JSON in file order; relevant = its paragraph id."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    out = []
    for article in data:
        for pi, para in enumerate(article["paragraphs"]):
            pid = f"{article['title']}_{pi}"
            for qa in para["qas"]:
                answers = list(dict.fromkeys(a["text"] for a in qa["answers"]))
                out.append(Question(qa["id"], qa["question"], answers=answers, relevant={pid: 1}))
    return out


def squad_split(path: Path, *, seed: int = 7, test_size: int = 300) -> tuple[list[Question], list[Question]]:
    """(train, test): shuffled with ``random.Random(seed)``; the first ``test_size`` are the test set."""
    pairs = squad_pairs(path)
    random.Random(seed).shuffle(pairs)
    return pairs[test_size:], pairs[:test_size]


def hotpotqa(path: Path) -> list[Question]:
    """HotpotQA distractor: each question with its own 10 paragraphs and its supporting sentences."""
    out = []
    for row in read_jsonl(path):
        titles, sents = row["context"]["title"], row["context"]["sentences"]
        passages = [{"id": f"{row['id']}:{i}", "title": t, "text": "".join(s), "source": t}
                    for i, (t, s) in enumerate(zip(titles, sents, strict=True))]
        by_title = dict(zip(titles, sents, strict=True))
        support = []
        for t, sid in zip(row["supporting_facts"]["title"], row["supporting_facts"]["sent_id"], strict=True):
            if t in by_title and sid < len(by_title[t]) and by_title[t][sid].strip():
                support.append(by_title[t][sid].strip())
        gold = set(row["supporting_facts"]["title"])
        relevant = {p["id"]: 1 for p in passages if p["title"] in gold}  # the paragraphs holding the support
        out.append(Question(row["id"], row["question"], answers=[row["answer"]], relevant=relevant,
                            passages=passages, support=support))
    return out


def corpus_questions(path: Path) -> list[Question]:
    """The project's corpus/questions.jsonl: {question, answer, source}."""
    return [Question(f"q{i}", r["question"], answers=[r["answer"]], relevant={r["source"]: 1})
            for i, r in enumerate(read_jsonl(path))]
