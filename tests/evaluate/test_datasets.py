"""The evaluation readers (rag/evaluate/datasets.py) on tiny files in each dataset's own layout."""
from __future__ import annotations

import json
from pathlib import Path

from rag.evaluate.datasets import beir, corpus_questions, hotpotqa, squad_split


def test_beir_keeps_positive_judgements_of_known_queries(tmp_path: Path) -> None:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td3\t2\n"
                                                 "q9\td4\t1\n")
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "one?"}) + "\n"
                                            + json.dumps({"_id": "q2", "text": "two?"}) + "\n")
    qs = {q.id: q for q in beir(tmp_path)}
    assert set(qs) == {"q1", "q2"}  # q9 has judgements but no text
    assert qs["q1"].relevant == {"d1": 1} and qs["q2"].relevant == {"d3": 2}


def test_squad_split_is_seeded_and_disjoint(tmp_path: Path) -> None:
    qas = [{"id": f"a{i}", "question": f"q{i}?", "answers": [{"text": "x"}, {"text": "x"}, {"text": "y"}]}
           for i in range(10)]
    path = tmp_path / "dev.json"
    path.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": qas}]}]}))
    train, test = squad_split(path, test_size=3)
    assert len(test) == 3 and len(train) == 7 and not {q.id for q in train} & {q.id for q in test}
    assert [q.id for q in squad_split(path, test_size=3)[1]] == [q.id for q in test]  # the same seed, the same split
    assert test[0].answers == ["x", "y"] and test[0].relevant == {"T_0": 1}


def test_hotpotqa_keeps_each_questions_paragraphs_and_its_supporting_sentences(tmp_path: Path) -> None:
    row = {"id": "h1", "question": "Who?", "answer": "Ann",
           "context": {"title": ["A", "B", "C"], "sentences": [["A is x. ", "Ann did A."], ["B."], ["C is far."]]},
           "supporting_facts": {"title": ["A", "B", "Z"], "sent_id": [1, 0, 0]}}
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (q,) = hotpotqa(path)
    assert [p["text"] for p in q.passages or []] == ["A is x. Ann did A.", "B.", "C is far."]
    assert q.support == ["Ann did A.", "B."]  # a fact in a missing paragraph is left out
    assert q.relevant == {"h1:0": 1, "h1:1": 1} and q.answers == ["Ann"]


def test_corpus_questions_name_their_source(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps({"question": "Why?", "answer": "Because.", "source": "a.md"}) + "\n")
    (q,) = corpus_questions(path)
    assert (q.id, q.text, q.answers, q.relevant) == ("q0", "Why?", ["Because."], {"a.md": 1})
