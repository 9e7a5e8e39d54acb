"""Learn the answer path's abstention model (rag/answer/abstain_weights.json) and its threshold.

    .venv/bin/python scripts/abstain_rows.py --squad-store DIR      # the contexts, as rows (cached)
    .venv/bin/python scripts/train_abstain.py [--rows F] [--out F] [--refuse 0.005]

Learns from the ``fit`` rows of four sets, each weighing the same: SQuAD (in the store / its article left
out), the shared HotpotQA sample's questions 0-49, and 50 HotpotQA and 50 MuSiQue train questions (all
paragraphs / the supporting ones left out), so single-hop and 2-4-hop contexts both teach it.
The label is what a model call would meet: whether a gold answer is in the final context (a question whose
retrieval lost its answer teaches the model as much as one whose passages were left out). The threshold
(``abstain_learned_above``) is chosen on predictions the model made for questions it was not fitted on
(5 folds by question): the lowest threshold at which no fit set refuses more than ``--refuse`` of its
contexts that hold an answer. The ``report`` rows (SQuAD test, HotpotQA 50-99, the other
train questions 50-99, XQuAD German and Spanish) are only measured, after the choice.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from abstain_rows import ROWS, read_rows  # noqa: E402
from train_scorers import fit  # noqa: E402

from rag.answer.abstain import ABSTAIN_FEATURES, WEIGHTS_FILE, feature_row  # noqa: E402
from rag.logistic import Logistic  # noqa: E402
from rag.text import text_processing  # noqa: E402

FIT_SETS = ("squad", "hotpotqa", "hotpotqa-train", "musique-train")


def arrays(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and weights (each set's rows add up to the same weight)."""
    per_set = defaultdict(int)
    for r in rows:
        per_set[r["set"]] += 1
    x = np.array([feature_row(r["signals"])[0] for r in rows])
    y = np.array([0 if r["kept"] else 1 for r in rows])  # what a model call would meet: the answer or not
    w = np.array([1.0 / per_set[r["set"]] for r in rows])
    return x, y, w * len(rows) / w.sum()


def model_of(m: dict) -> Logistic:
    return Logistic(ABSTAIN_FEATURES, m["mean"], m["scale"], m["coef"], m["intercept"])


def out_of_fold(rows: list[dict], folds: int = 5) -> np.ndarray:
    """Each row's probability from a model fitted without its question."""
    qids = sorted({(r["set"], r["qid"]) for r in rows})
    random.Random(0).shuffle(qids)
    fold = {q: i % folds for i, q in enumerate(qids)}
    out = np.zeros(len(rows))
    for k in range(folds):
        train = [r for r in rows if fold[(r["set"], r["qid"])] != k]
        test = [i for i, r in enumerate(rows) if fold[(r["set"], r["qid"])] == k]
        m = model_of(fit(*arrays(train), ABSTAIN_FEATURES))
        out[test] = m(np.array([feature_row(rows[i]["signals"])[0] for i in test]))
    return out


# Which contexts a rate is taken over: those holding a gold answer (a refusal there withholds an answer the
# model could give), every context of an answerable input (the measure), and inputs whose answer's
# passages were left out (an abstention there saves a call that could not answer).
GROUPS: dict[str, Callable[[dict], bool]] = {
    "answer in context": lambda r: r["label"] == 0 and r["kept"],
    "answerable input": lambda r: r["label"] == 0,
    "answer left out": lambda r: r["label"] == 1,
}


def choose(rows: list[dict], probs: np.ndarray, refuse: float) -> float:
    """The lowest threshold at which no set refuses more than ``refuse`` of its contexts holding an answer."""
    for t in np.arange(0.50, 1.0, 0.005):
        worst = max(_share(rows, probs, t, s, "answer in context") for s in {r["set"] for r in rows})
        if worst <= refuse:
            return round(float(t), 3)
    return 1.0


def _share(rows: list[dict], probs: np.ndarray, t: float, name: str, group: str) -> float:
    picked = [p for r, p in zip(rows, probs, strict=True) if r["set"] == name and GROUPS[group](r)]
    return sum(p >= t for p in picked) / max(1, len(picked))


def report(rows: list[dict], probs: np.ndarray, t: float) -> None:
    print("| set | split | refused: answer in context % | refused: answerable input % | abstained: answer "
          "left out % | contexts |")
    print("|---|---|---|---|---|---|")
    for name, split in sorted({(r["set"], r["split"]) for r in rows}):
        sel = [i for i, r in enumerate(rows) if r["set"] == name and r["split"] == split]
        sub, p = [rows[i] for i in sel], probs[sel]
        rates = " | ".join(f"{100 * _share(sub, p, t, name, g):.1f}" for g in GROUPS)
        print(f"| {name} | {split} | {rates} | {len(sub)} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=Path, nargs="+", default=[ROWS, ROWS.with_name("abstain_rows_store.jsonl")])
    ap.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    ap.add_argument("--refuse", type=float, default=0.005, help="answerable share a fit set may refuse")
    args = ap.parse_args()
    rows = [r for path in args.rows for r in read_rows(path) if r["signals"] is not None]
    fit_rows = [r for r in rows if r["split"] == "fit" and r["set"] in FIT_SETS]
    oof = out_of_fold(fit_rows)
    threshold = choose(fit_rows, oof, args.refuse)
    model = fit(*arrays(fit_rows), ABSTAIN_FEATURES)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"answerable": 0, "not_answerable": 0})
    for r in fit_rows:
        counts[r["set"]]["not_answerable" if r["label"] else "answerable"] += 1
    model["trained_on"] = dict(counts)
    model["threshold"] = threshold
    print(f"threshold (out-of-fold, <= {100 * args.refuse:.1f}% refused on every fit set): {threshold}")
    print("\nout of fold, fit rows:")
    report(fit_rows, oof, threshold)
    held = [r for r in rows if r["split"] == "report"]
    if held:
        print("\nreport rows (never fitted or chosen on):")
        report(held, model_of(model)(np.array([feature_row(r["signals"])[0] for r in held])), threshold)
    data = {"text_processing": text_processing(), "abstain": model}
    args.out.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
