"""One table for data nobody tuned for: multi-hop sets in three passage forms, beside naive dense top-k.

    .venv/bin/python scripts/generality_data.py      # once: the public sets into .leanrag/cache/generality
    .venv/bin/python scripts/bench_generality.py [--limit N] [--only hotpot,musique,xquad]

Multi-hop sets (each question over its own paragraphs, as a caller passes them), questions 50-99 of each: the
shared HotpotQA sample (earlier sessions chose settings on 0-49), and 100 HotpotQA and 100 MuSiQue questions
of the train splits (scripts/data/generality_sources.json) whose 0-49 taught the abstention model and no other
part (scripts/train_abstain.py); the retrieval stages were fitted to none of them.
Each in three forms: ``title`` ({id, title, text, source}), ``plain`` ({id, text, source}) and ``strings``.
Columns: supporting-paragraph recall (a gold paragraph counts when any of its text is kept), the gold answer
(or an alias) in the context, median and p90 context tokens, and how often the service would have abstained
although every supporting paragraph was in the input.

XQuAD (``--only xquad``): German, Spanish and English versions of the same 240 paragraphs, ingested into one
store per language; the answer kept and tokens for leanrag and naive dense top-5, and answerable questions
refused. The stemmer, stopwords and lead rules are English: this shows what they cost elsewhere.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag import Pipeline, Settings
from rag.answer.abstain import nothing_to_read
from rag.evaluate.datasets import hotpotqa
from rag.evaluate.metrics import answer_kept, median, percentile
from rag.evaluate.profiles import NAIVE_TOP5
from rag.index.embedder import one_blas_thread
from rag.tokens import count_tokens
from rag.types import Context, Document

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / ".leanrag" / "cache" / "generality"


@dataclass
class Item:
    """A multi-hop question over its own paragraphs; ``gold`` indexes the supporting ones."""

    id: str
    question: str
    answers: list[str]
    titles: list[str]
    texts: list[str]
    gold: set[int]
    hops: int = 2


def shared_hotpot(first: int = 50) -> list[Item]:
    """The shared sample from question ``first`` on (50: the half no setting was chosen on)."""
    qs = hotpotqa(DATA / "hotpotqa-distractor-sample" / "hotpotqa_distractor_sample.jsonl")[first:]
    return [Item(q.id, q.text, q.answers, [p["title"] for p in q.passages], [p["text"] for p in q.passages],
                 {i for i, p in enumerate(q.passages) if p["id"] in q.relevant}) for q in qs]


def hotpot_list(path: Path) -> list[Item]:
    """HotpotQA's own JSON layout: context [[title, [sentences]]], supporting_facts [[title, sent]]."""
    out = []
    for row in json.loads(path.read_text()):
        titles = [t for t, _ in row["context"]]
        texts = ["".join(s) for _, s in row["context"]]
        gold_titles = {t for t, _ in row["supporting_facts"]}
        out.append(Item(row["_id"], row["question"], [row["answer"]], titles, texts,
                        {i for i, t in enumerate(titles) if t in gold_titles}))
    return out


def musique(path: Path) -> list[Item]:
    out = []
    for row in json.loads(path.read_text()):
        ps = row["paragraphs"]
        out.append(Item(row["id"], row["question"], [row["answer"], *row.get("answer_aliases", [])],
                        [p["title"] for p in ps], [p["paragraph_text"] for p in ps],
                        {i for i, p in enumerate(ps) if p["is_supporting"]}, hops=len(row["question_decomposition"])))
    return out


FORMS: dict[str, Callable[[Item], list[Any]]] = {
    "title": lambda it: [{"id": f"{it.id}:{i}", "title": t, "text": x, "source": t}
                         for i, (t, x) in enumerate(zip(it.titles, it.texts, strict=True))],
    "plain": lambda it: [{"id": f"{it.id}:{i}", "text": x, "source": t}
                         for i, (t, x) in enumerate(zip(it.titles, it.texts, strict=True))],
    "strings": lambda it: list(it.texts),
}


def _index(pid: str) -> int:
    """The input position of a kept passage: ``<item>:<i>`` or, for plain strings, ``p<i>``."""
    tail = pid.rsplit(":", 1)[-1]
    return int(tail[1:] if tail.startswith("p") else tail)


@dataclass
class Column:
    recall: list[float] = field(default_factory=list)
    kept: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)

    def add(self, it: Item, ctx_text: str, kept_ids: set[int], tokens: int, refused: bool | None) -> None:
        self.recall.append(len(it.gold & kept_ids) / max(1, len(it.gold)))
        self.kept.append(float(answer_kept(ctx_text, it.answers)))
        self.tokens.append(tokens)
        if refused is not None:
            self.refused.append(float(refused))

    def row(self, name: str) -> str:
        n = len(self.recall)
        refused = f"{100 * sum(self.refused) / len(self.refused):5.1f}" if self.refused else "    -"
        return (f"| {name} | {100 * sum(self.recall) / n:5.1f} | {100 * sum(self.kept) / n:5.1f} | "
                f"{median(self.tokens):5.0f} | {percentile(sorted(self.tokens), 0.9):5.0f} | {refused} |")


def bench_multihop(name: str, items: list[Item], p: Pipeline) -> None:
    cols: dict[str, Column] = {}
    for it in items:
        whole = "\n\n".join(it.texts)
        cols.setdefault("all paragraphs", Column()).add(it, whole, set(range(len(it.texts))), count_tokens(whole), None)
        for k in (3, 5):
            ctx = p.retrieve(it.question, passages=FORMS["title"](it), **{**NAIVE_TOP5, "max_passages": k})
            cols.setdefault(f"naive dense top-{k}", Column()).add(it, ctx.text, {_index(x.id) for x in ctx.passages},
                                                                  ctx.tokens, None)
        for form, make in FORMS.items():
            ctx = p.retrieve(it.question, passages=make(it))
            cols.setdefault(f"leanrag ({form})", Column()).add(it, ctx.text, {_index(x.id) for x in ctx.passages},
                                                               ctx.tokens, _refused(ctx, p.settings))
    hops = sorted({it.hops for it in items})
    print(f"\n### {name} ({len(items)} questions; hops {hops})\n")
    print("| method | supporting paragraphs % | answer in context % | median tokens | p90 tokens | "
          "abstained though answerable % |")
    print("|---|---|---|---|---|---|")
    for col_name, col in cols.items():
        print(col.row(col_name))
    if len(hops) > 1:
        for h in hops:
            sub = [i for i, it in enumerate(items) if it.hops == h]
            col = cols["leanrag (plain)"]
            print(f"  {h} hops ({len(sub)}): plain recall {100 * sum(col.recall[i] for i in sub) / len(sub):.1f}%, "
                  f"answer {100 * sum(col.kept[i] for i in sub) / len(sub):.1f}%, "
                  f"median tokens {median([col.tokens[i] for i in sub]):.0f}")


def _refused(ctx: Context, s: Settings) -> bool:
    return bool(nothing_to_read(ctx, s))


def xquad(lang: str, limit: int | None, overrides: dict[str, Any]) -> None:
    """One store of the language's 240 paragraphs; every question retrieved from it, by naive dense top-5 and
    by leanrag with the English rules (the default), with the language's own setting, and with ``neutral``."""
    data = json.loads((CACHE / f"xquad-{lang}.json").read_text())["data"]
    docs, qs = [], []
    for a, art in enumerate(data):
        for j, para in enumerate(art["paragraphs"]):
            docs.append(Document(f"{a}_{j}", f"xquad:{a}_{j}", "", para["context"], "text"))
            qs += [(qa["question"], [x["text"] for x in qa["answers"]]) for qa in para["qas"]]
    random.Random(7).shuffle(qs)
    qs = qs[:limit or 300]
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        first = Pipeline(Settings(store_path=store, **overrides))
        first.ingest_documents(docs)
        runs = {"naive dense top-5": (first, NAIVE_TOP5)}
        for code in dict.fromkeys(["en", lang, "neutral"]):
            runs[f"leanrag language={code}"] = (Pipeline(Settings(store_path=store, **{**overrides, "language": code}),
                                                         embedder=first.embedder), {})
        cols = {name: Column() for name in runs}
        for q, answers in qs:
            it = Item("", q, answers, [], [], set())
            for name, (p, cfg) in runs.items():
                ctx = p.retrieve(q, **cfg)
                cols[name].add(it, ctx.text, set(), ctx.tokens, None if cfg else _refused(ctx, p.settings))
    print(f"\n### XQuAD {lang} ({len(qs)} questions over a store of {len(docs)} paragraphs)\n")
    print("| method | - | answer in context % | median tokens | p90 tokens | abstained though answerable % |")
    print("|---|---|---|---|---|---|")
    for name, col in cols.items():
        print(col.row(name).replace("|   0.0 |", "|     - |", 1))


def main() -> None:
    one_blas_thread()
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int)
    ap.add_argument("--only", default="hotpot,musique,xquad")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for every run")
    args = ap.parse_args()
    overrides = {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)}
    p = Pipeline(Settings(**overrides))
    only = set(args.only.split(","))
    if "hotpot" in only:
        bench_multihop("HotpotQA shared sample, held-out half (50-99)", shared_hotpot()[:args.limit], p)
        bench_multihop("HotpotQA train, questions 50-99 (nothing fitted to them)",
                       hotpot_list(CACHE / "hotpotqa-train-100.json")[50:][:args.limit], p)
    if "musique" in only:
        bench_multihop("MuSiQue train, questions 50-99 (nothing fitted to them)",
                       musique(CACHE / "musique-train-100.json")[50:][:args.limit], p)
    if "xquad" in only:
        for lang in ("en", "de", "es"):
            xquad(lang, args.limit, overrides)


if __name__ == "__main__":
    main()
