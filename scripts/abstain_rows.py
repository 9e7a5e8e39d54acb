"""The contexts abstention learns from and is judged on, as rows of signals (cached: a context costs a retrieval).

    .venv/bin/python scripts/abstain_rows.py --squad-store DIR [--sets ...] [--out .leanrag/cache/abstain_rows.jsonl]

Each row is one final context as the answer path sees it: the set, the split (``fit``: the model learns from
it; ``report``: only ever measured), the question, the passage form, the label (1: the answer's passages
were left out) and the signals the abstention model may read. Sets and their splits:
- ``squad``: SQuAD dev questions outside the 300 test questions (fit: 600 of them), against the whole store
  and against the store without the question's article; the 300 test questions (report).
- ``hotpotqa``: the shared sample, questions 0-49 fit, 50-99 report; all ten paragraphs vs the eight
  distractors, as plain ``{id, text, source}`` passages (the form that leans on no title).
- ``hotpotqa-train`` / ``musique-train``: 100 train-split questions each (scripts/generality_data.py), 0-49 fit,
  50-99 report; all paragraphs vs all but the supporting ones.
- ``xquad-de`` / ``xquad-es``: report only (another language): 150 questions each over a store of the
  language's 240 paragraphs, with and without the question's article.
Each row also says whether a gold answer is in the final context (``kept``): an "answerable" question whose
context lost its answer is a refusal that costs nothing, and one whose context holds it must be answered.
Rows already in the output are not computed again.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_abstain import SQUAD, article, articles  # noqa: E402
from bench_generality import CACHE, FORMS, Item, hotpot_list, musique, shared_hotpot  # noqa: E402

from rag import Pipeline, Settings  # noqa: E402
from rag.answer.abstain import signals  # noqa: E402
from rag.evaluate.datasets import squad_split  # noqa: E402
from rag.evaluate.metrics import answer_kept  # noqa: E402
from rag.index.embedder import one_blas_thread  # noqa: E402
from rag.types import Document  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ROWS = ROOT / ".leanrag" / "cache" / "abstain_rows.jsonl"
Row = dict[str, Any]


def _multihop(name: str, items: list[Item], p: Pipeline, fit: int,
              forms: tuple[str, ...] = ("plain",)) -> Iterator[Row]:
    """Each question over all its paragraphs (label 0) and over all but its supporting ones (label 1), as
    plain ``{id, text, source}`` passages by default: the form that leans on no title field."""
    for n, it in enumerate(items):
        split = "fit" if n < fit else "report"
        for form in forms:
            passages = FORMS[form](it)
            absent = [x for i, x in enumerate(passages) if i not in it.gold]
            for label, ps in ((0, passages), (1, absent)):
                yield {"set": name, "split": split, "qid": it.id, "form": form, "label": label,
                       "answers": it.answers, "ctx": lambda ps=ps, q=it.question: p.retrieve(q, passages=ps)}


def _squad(store: str, n_fit: int) -> Iterator[Row]:
    p = Pipeline(Settings(store_path=store))
    train, test = squad_split(SQUAD)
    by_article = articles()
    fit = random.Random(2).sample(train, n_fit)
    for split, qs in (("fit", fit), ("report", test)):
        for q in qs:
            gold = article(next(iter(q.relevant)))
            for label, where in ((0, None), (1, {"doc_id": {"$nin": by_article[gold]}})):
                yield {"set": "squad", "split": split, "qid": q.id, "form": "store", "label": label,
                       "answers": q.answers, "ctx": lambda q=q, where=where: p.retrieve(q.text, where=where)}


def _xquad(lang: str, n: int, tmp: Path) -> Iterator[Row]:
    data = json.loads((CACHE / f"xquad-{lang}.json").read_text())["data"]
    docs, qs = [], []
    for a, art in enumerate(data):
        ids = [f"{a}_{j}" for j in range(len(art["paragraphs"]))]
        for j, para in enumerate(art["paragraphs"]):
            docs.append(Document(ids[j], f"xquad:{ids[j]}", "", para["context"], "text"))
            qs += [(qa["id"], qa["question"], ids, [x["text"] for x in qa["answers"]]) for qa in para["qas"]]
    p = Pipeline(Settings(store_path=tmp / f"xquad-{lang}"))
    p.ingest_documents(docs)
    for qid, q, ids, answers in random.Random(7).sample(qs, n):
        for label, where in ((0, None), (1, {"doc_id": {"$nin": ids}})):
            yield {"set": f"xquad-{lang}", "split": "report", "qid": qid, "form": "store", "label": label,
                   "answers": answers, "ctx": lambda q=q, where=where: p.retrieve(q, where=where)}


def collect(out: Path, sets: list[str], squad_store: str | None, squad_fit: int) -> None:
    done = {(r["set"], r["qid"], r["form"], r["label"]) for r in read_rows(out)}
    p = Pipeline(Settings())
    with tempfile.TemporaryDirectory() as tmp:
        makers: dict[str, Callable[[], Iterator[Row]]] = {
            "hotpotqa": lambda: _multihop("hotpotqa", shared_hotpot(0), p, 50),
            "hotpotqa-train": lambda: _multihop("hotpotqa-train", hotpot_list(CACHE / "hotpotqa-train-100.json"),
                                                p, 50),
            "musique-train": lambda: _multihop("musique-train", musique(CACHE / "musique-train-100.json"), p, 50),
            "xquad-de": lambda: _xquad("de", 150, Path(tmp)),
            "xquad-es": lambda: _xquad("es", 150, Path(tmp)),
        }
        if squad_store:
            makers["squad"] = lambda: _squad(squad_store, squad_fit)
        with out.open("a", encoding="utf-8") as f:
            for name in sets:
                for row in makers[name]():
                    if (row["set"], row["qid"], row["form"], row["label"]) in done:
                        continue
                    ctx = row.pop("ctx")()
                    kept = answer_kept(ctx.text, row.pop("answers"))  # the label a model call would meet
                    f.write(json.dumps({**row, "kept": kept, "signals": signals(ctx)}) + "\n")
                    f.flush()


def read_rows(path: Path) -> list[Row]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    one_blas_thread()
    ap = argparse.ArgumentParser()
    ap.add_argument("--squad-store")
    ap.add_argument("--squad-fit", type=int, default=600)
    ap.add_argument("--sets", default="hotpotqa,hotpotqa-train,musique-train,squad,xquad-de,xquad-es")
    ap.add_argument("--out", type=Path, default=ROWS)
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    collect(args.out, args.sets.split(","), args.squad_store, args.squad_fit)


if __name__ == "__main__":
    main()
