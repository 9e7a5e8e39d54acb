"""What an experiment does to a context after retrieval: distractors in, gold passages moved.

These knobs need the gold labels, which only an experiment has, so they live here and not in Settings;
a spec's grid mixes them freely with settings (``distractors = [0, 2, 4]``, ``gold_position = [...]``).

- ``distractors``: add N passages that are not gold, after the retrieved ones. ``hard``: the best-ranked
  candidates the pruner dropped; ``random``: passages drawn (seeded by question) from the rest of the
  corpus, or from other questions' paragraphs when each question brings its own.
- ``gold_position``: ``rank`` keeps the retrieval order; ``start``, ``middle`` and ``end`` move the gold
  passages there (the "lost in the middle" effect).
"""
from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from rag.errors import InputError
from rag.evaluate.datasets import Question
from rag.evaluate.metrics import answer_kept
from rag.types import Candidate, Context, Passage, StageTrace

Kind = Literal["hard", "random"]
Position = Literal["rank", "start", "middle", "end"]
RandomPool = Callable[[Question, int, random.Random], list[Candidate]]


@dataclass(frozen=True)
class Manipulation:
    distractors: int = 0
    distractor_kind: Kind = "hard"
    gold_position: Position = "rank"

    def __post_init__(self) -> None:
        if not isinstance(self.distractors, int) or not 0 <= self.distractors <= 50:
            raise InputError(f"distractors must be an integer from 0 to 50, not {self.distractors!r}")
        if self.distractor_kind not in ("hard", "random"):
            raise InputError(f"distractor_kind must be hard or random, not {self.distractor_kind!r}")
        if self.gold_position not in ("rank", "start", "middle", "end"):
            raise InputError(f"gold_position must be rank, start, middle or end, not {self.gold_position!r}")

    @property
    def active(self) -> bool:
        return self.distractors > 0 or self.gold_position != "rank"

    @classmethod
    def split(cls, overrides: dict[str, Any]) -> tuple[Manipulation, dict[str, Any]]:
        """(the manipulation, the remaining settings overrides) from one configuration's values."""
        names = {f.name for f in fields(cls)}
        return (cls(**{k: v for k, v in overrides.items() if k in names}),
                {k: v for k, v in overrides.items() if k not in names})


def is_gold(doc_id: str, text: str, q: Question) -> bool:
    """A passage the question needs: a relevant document, or (single-answer sets) one holding the answer."""
    if doc_id in q.relevant:
        return True
    return bool(q.answers) and not q.support and answer_kept(text, q.answers)


def apply(ctx: Context, q: Question, m: Manipulation, *, count: Callable[[str], int],
          random_pool: RandomPool | None = None) -> Context:
    """The context with distractors added and gold passages moved; the trace says what was done."""
    if not m.active:
        return ctx
    passages = list(ctx.passages)
    tokens_in = ctx.tokens
    note = []
    if m.distractors:
        present = {p.id for p in passages}
        if m.distractor_kind == "hard":
            pool = [c for c in ctx.pool if c.id not in present]
        else:
            if random_pool is None:
                raise InputError("random distractors need a pool of passages")
            pool = random_pool(q, 4 * m.distractors + 8, random.Random(zlib.crc32(q.id.encode())))
            pool = [c for c in pool if c.id not in present]
        added = [c for c in pool if not is_gold(c.doc_id, c.text, q)][: m.distractors]
        passages += [_whole(c, count) for c in added]
        note.append(f"{len(added)} {m.distractor_kind} distractor(s) added")
    if m.gold_position != "rank":
        flags = [is_gold(p.doc_id, p.text, q) for p in passages]
        gold = [p for p, g in zip(passages, flags, strict=True) if g]
        rest = [p for p, g in zip(passages, flags, strict=True) if not g]
        at = {"start": 0, "middle": len(rest) // 2, "end": len(rest)}[m.gold_position]
        passages = rest[:at] + gold + rest[at:]
        note.append(f"{len(gold)} gold passage(s) moved to the {m.gold_position}")
    # a new trace too: the caller's context, trace included, stays as retrieval left it
    trace = replace(ctx.trace, stages=list(ctx.trace.stages), warnings=list(ctx.trace.warnings),
                    calls=list(ctx.trace.calls))
    out = Context(ctx.question, passages, 0, trace, pool=ctx.pool)
    out.tokens = count(out.text) if passages else 0
    trace.stages.append(StageTrace("experiment", len(ctx.passages), len(passages), tokens_in, out.tokens, 0.0,
                                   note="; ".join(note)))
    return out


def _whole(c: Candidate, count: Callable[[str], int]) -> Passage:
    # Sentence scores go along when retrieval computed them (hard negatives), so that a reader picking
    # sentences by score, the extractive answerer, can be misled by a distractor as a model can.
    scored = len(c.sentence_scores) == len(c.sentences)
    return Passage(id=c.id, doc_id=c.doc_id, source=c.source, title=c.title, text=c.text, score=round(c.score, 4),
                   spans=[(c.start, c.end)], tokens=count(c.text),
                   sentences=[(c.start + s, c.start + e, round(sc, 4))
                              for (s, e), sc in zip(c.sentences, c.sentence_scores, strict=True)] if scored else [])


def distractor_share(passages: Sequence[Passage], q: Question, count: Callable[[str], int]) -> float | None:
    """Share of the context's tokens in passages the question does not need (None: no gold labels)."""
    if not (q.relevant or q.answers) or not passages:
        return None
    total = sum(count(p.text) for p in passages)
    bad = sum(count(p.text) for p in passages if not is_gold(p.doc_id, p.text, q))
    return bad / total if total else None
