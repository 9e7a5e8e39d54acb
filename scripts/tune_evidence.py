"""Grid over the evidence-driven selection rule on training questions: candidates, reranking and the hop
are computed once per question (``Pipeline.rank``), then selected under each configuration exactly as
``retrieve`` selects (``Pipeline.select``: sentence scores, the multi-hop profile, openings, pruning).

    .venv/bin/python scripts/tune_evidence.py --squad-store DIR [--squad-n 300] [--hotpot 0:50]

SQuAD: non-test questions (outside the first 300 after random.Random(7).shuffle), gold answer kept.
HotpotQA: the questions in the --hotpot slice, passages with and without their title field,
supporting sentences kept. Prints one line per configuration: each set's recall and median tokens.
"""
from __future__ import annotations

import argparse
import itertools
import pickle
import random
from pathlib import Path

from rag import Pipeline, Settings
from rag.evaluate.datasets import hotpotqa, squad_split
from rag.evaluate.metrics import answer_kept, median, support_recall

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def collect(p: Pipeline, questions, plain: bool = False) -> list:  # noqa: ANN001
    rows = []
    for q in questions:
        passages = None
        if q.passages is not None:
            passages = [{k: v for k, v in x.items() if k != "title"} if plain else x for x in q.passages]
        rows.append((q, p.rank(q.text, passages=passages)))
    return rows


def _cached(folder: Path | None, name: str, make):  # noqa: ANN001, ANN202
    """Collecting is the slow part (embedding, reranking); a grid rerun reuses it."""
    if folder is None:
        return make()
    path = folder / f"{name}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    rows = make()
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(rows))
    return rows


def measure(p: Pipeline, rows: list, s: Settings, kept) -> tuple[float, float]:  # noqa: ANN001
    hits, toks = [], []
    for q, ranked in rows:
        ctx = p.select(q.text, ranked, settings=s)
        hits.append(kept(ctx.text, q))
        toks.append(ctx.tokens)
    return 100 * sum(hits) / len(hits), median(toks)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--squad-store")
    ap.add_argument("--squad-n", type=int, default=300)
    ap.add_argument("--hotpot", default="0:50", help="slice of the 100 HotpotQA questions")
    ap.add_argument("--cache", help="folder keeping the collected questions between runs")
    ap.add_argument("--grid", default="evidence_mass=None,1.0;token_budget=130,350;hop_budget=350,None")
    args = ap.parse_args()
    sets = {}
    a, b = (int(x) for x in args.hotpot.split(":"))
    hq = hotpotqa(DATA / "hotpotqa-distractor-sample" / "hotpotqa_distractor_sample.jsonl")[a:b]
    hp = Pipeline(Settings())
    cache = Path(args.cache) if args.cache else None
    sets["hotpot-titles"] = (hp, _cached(cache, f"hotpot-titles-{a}-{b}", lambda: collect(hp, hq)),
                             lambda t, q: support_recall(t, q.support))
    sets["hotpot-plain"] = (hp, _cached(cache, f"hotpot-plain-{a}-{b}", lambda: collect(hp, hq, plain=True)),
                            lambda t, q: support_recall(t, q.support))
    if args.squad_store:
        train, _ = squad_split(DATA / "squad-v1.1-dev" / "dev-v1.1.json")
        sq = random.Random(3).sample(train, args.squad_n)
        squad = Pipeline(Settings(store_path=args.squad_store))
        sets["squad"] = (squad, _cached(cache, f"squad-{args.squad_n}", lambda: collect(squad, sq)),
                         lambda t, q: answer_kept(t, q.answers))
    grid = {}
    for part in args.grid.split(";"):
        key, values = part.split("=")
        grid[key] = [_value(v) for v in values.split(",")]
    print(" ".join(grid) + " | " + " | ".join(f"{n} kept% tok" for n in sets))
    for combo in itertools.product(*grid.values()):
        s = Settings(**_settings(dict(zip(grid, combo, strict=True))))
        cells = [measure(p, rows, s, kept) for p, rows, kept in sets.values()]
        print(" ".join(str(v) for v in combo) + " | " + " | ".join(f"{k:5.1f} {t:4.0f}" for k, t in cells),
              flush=True)


def _value(v: str):  # noqa: ANN202
    if v in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[v]
    return float(v) if "." in v else int(v)


def _settings(point: dict) -> dict:
    """A grid point as settings; ``floors=False`` switches the passage and sentence score floors off."""
    out = dict(point)
    if out.pop("floors", True) is False:
        out.update(min_score=None, sentence_min_score=0.0)
    return out

if __name__ == "__main__":
    main()
