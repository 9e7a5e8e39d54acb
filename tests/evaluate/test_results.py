"""An experiment's rows: gold names matched to stored paths, rows read back after a cut run, summaries
that count a resumed question once."""
from __future__ import annotations

import json
from pathlib import Path

from rag.evaluate.results import in_gold_terms, read_rows, summarize, write_summary


def test_a_stored_path_is_the_gold_document_it_ends_with() -> None:
    gold = {"reasoning-tokens.md": 1, "docs/budget.md": 1}
    got = in_gold_terms(["/home/u/corpus/reasoning-tokens.md", "/srv/x/docs/budget.md", "/srv/budget.md",
                         "/a/not-reasoning-tokens.md", "reasoning-tokens.md"], gold)
    assert got == ["reasoning-tokens.md", "docs/budget.md", "/srv/budget.md", "/a/not-reasoning-tokens.md",
                   "reasoning-tokens.md"]


def test_rows_of_a_killed_run_are_read_without_the_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    assert read_rows(path) == []
    path.write_text(json.dumps({"config": "a", "qid": "1"}) + "\n" + '{"config": "a", "qid"', encoding="utf-8")
    assert read_rows(path) == [{"config": "a", "qid": "1"}]


def test_a_resumed_question_counts_once_and_a_failure_that_later_ran_is_no_error(tmp_path: Path) -> None:
    rows = [{"config": "a", "qid": "1", "answer_kept": 1.0, "context_tokens": 100},
            {"config": "a", "qid": "1", "answer_kept": 1.0, "context_tokens": 100},  # run again on resume
            {"config": "a", "qid": "2", "error": "timeout"},
            {"config": "a", "qid": "2", "answer_kept": 0.0, "context_tokens": 300},
            {"config": "a", "qid": "3", "error": "timeout"},
            {"config": "b", "qid": "1", "answer_kept": 1.0, "context_tokens": 50}]
    a, b = summarize(rows, ["a", "b"])
    assert a["questions"] == 2 and a["errors"] == 1 and abs(a["answer_kept"] - 0.5) < 1e-9
    assert a["context_tokens_median"] == 200 and b["questions"] == 1 and b["errors"] == 0
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    lines = write_summary(tmp_path, ["b"]).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("config,questions,errors") and len(lines) == 2 and lines[1].startswith("b,1,0")
