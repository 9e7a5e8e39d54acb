"""Learn the embedding reranker's and the sentence pruner's logistic weights, on training questions only.

    .venv/bin/python scripts/train_scorers.py --scifact-store DIR --squad-store DIR [--passage-sets squad] [--out F]

Passage model: SciFact ``qrels/train.tsv`` and SQuAD dev questions outside the 300 test questions
(label: the candidate's document is relevant). Sentence model: those SQuAD questions (label: the
sentence contains a gold answer). Test questions are never read. Writes rag/retrieve/weights.json, or
``--out``; ``--passage-sets`` leaves a set out of the passage model (the generalisation study,
scripts/study_generalisation.py).
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from rag import Pipeline, Settings
from rag.evaluate.datasets import beir, squad_split
from rag.logistic import Logistic
from rag.retrieve.candidates import FusionConfig, first_stage
from rag.retrieve.features import (
    PASSAGE_FEATURES,
    SENTENCE_FEATURES,
    WEIGHTS_FILE,
    QuestionView,
    ScoredPassage,
    passage_features,
    query_terms,
    sentence_features,
)
from rag.retrieve.stages import idf_of
from rag.text import text_processing

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def collect(pipeline: Pipeline, questions):  # noqa: ANN001, ANN201
    s = pipeline.settings
    store = pipeline.store()
    lexical = pipeline._lexical(s)
    idf = idf_of(lexical)
    rows = []
    for q in questions:
        qvec = pipeline.embedder.encode([q.text])[0]
        cands = first_stage(q.text, qvec, store, lexical, FusionConfig.of(s))
        if not cands:
            continue
        ev = pipeline._evidence.stored(cands, store, lexical.snapshot().vectors)
        qt = query_terms(q.text, idf)
        x = passage_features(qvec, qt, [c.title for c in cands], [c.text for c in cands], [ev[c.id] for c in cands])
        y = np.array([1 if c.doc_id in q.relevant else 0 for c in cands])
        rows.append((q, cands, ev, qvec, qt, x, y))
    return rows


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray | None, names: tuple[str, ...]) -> dict:
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 1e-9, scaler.scale_, 1.0)
    lr = LogisticRegression(C=1.0, max_iter=2000).fit((x - scaler.mean_) / scale, y, sample_weight=w)
    return {"features": list(names), "mean": scaler.mean_.round(6).tolist(), "scale": scale.round(6).tolist(),
            "coef": lr.coef_[0].round(6).tolist(), "intercept": round(float(lr.intercept_[0]), 6)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scifact-store", help="needed when scifact is one of --passage-sets")
    ap.add_argument("--squad-store", required=True)
    ap.add_argument("--scifact-n", type=int, default=400)
    ap.add_argument("--squad-n", type=int, default=1000)
    ap.add_argument("--passage-sets", default="scifact,squad", help="the sets the passage model learns from")
    ap.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    args = ap.parse_args()
    sets = set(args.passage_sets.split(","))

    sci_q = beir(DATA / "scifact", "train")[:args.scifact_n]
    squad_train, _ = squad_split(DATA / "squad-v1.1-dev" / "dev-v1.1.json")
    squad_q = random.Random(1).sample(squad_train, args.squad_n)
    sci = collect(Pipeline(Settings(store_path=args.scifact_store)), sci_q) if "scifact" in sets else []
    squad = Pipeline(Settings(store_path=args.squad_store))
    sq = collect(squad, squad_q)

    xs, ys, ws = [], [], []
    for rows in [r for name, r in (("scifact", sci), ("squad", sq)) if name in sets]:  # each set weighs the same
        x = np.concatenate([r[5] for r in rows])
        y = np.concatenate([r[6] for r in rows])
        xs.append(x), ys.append(y), ws.append(np.full(len(y), 1.0 / len(y)))
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    passage = fit(x, y, w * len(y), PASSAGE_FEATURES)
    pmodel = Logistic(PASSAGE_FEATURES, passage["mean"], passage["scale"], passage["coef"], passage["intercept"])

    sx, sy = [], []
    idf = idf_of(squad._lexical(squad.settings))  # the index collect() already built
    for q, cands, ev, qvec, _qt, x, _ in sq:
        p = pmodel(x)
        qv = QuestionView.of(q.text, qvec, idf)
        rows = sentence_features(qv, [ScoredPassage(c.title, c.text, ev[c.id], float(p[i]))
                                      for i, c in enumerate(cands)])
        for i in np.argsort(-p)[:20]:
            c = cands[i]
            sx.append(rows[i])
            sy += [1 if any(a in c.text[s:t] for a in q.answers) else 0 for s, t in ev[c.id].spans]

    sentence = fit(np.concatenate(sx), np.array(sy), None, SENTENCE_FEATURES)
    # The abstention model (rag/answer/abstain_weights.json) is trained on the contexts these two make:
    # retrain it with scripts/train_abstain.py after this.
    out = {"text_processing": text_processing(), "passage": passage, "sentence": sentence,
           "trained_on": {"scifact_train_queries": len(sci) if "scifact" in sets else 0,
                          "squad_nontest_questions": len(sq), "passage_sets": sorted(sets),
                          "passage_rows": int(len(y)), "sentence_rows": len(sy)}}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
