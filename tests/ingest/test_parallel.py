"""Parallel ingest's parts that run without a Chroma server (rag/ingest/parallel.py): how files are shared
out, and the refusal on an embedded store (the multi-process run itself is in test_ingest.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import InputError
from rag.ingest.parallel import ingest_in_workers, shares
from rag.settings import Settings
from rag.types import IngestReport


def test_shares_balance_bytes_and_lose_no_file(tmp_path: Path) -> None:
    files = []
    for i, size in enumerate([900, 500, 400, 300, 100, 100]):
        f = tmp_path / f"f{i}.txt"
        f.write_text("x" * size)
        files.append(f)
    parts = shares(files, 3)
    assert sorted(f for p in parts for f in p) == sorted(files)
    loads = [sum(f.stat().st_size for f in p) for p in parts]
    assert max(loads) - min(loads) <= 200 and loads[0] >= 900  # the largest file alone
    assert shares(files[:2], 4) == [[files[0]], [files[1]]]  # no empty share
    assert shares([], 3) == []


def test_workers_need_a_chroma_server(tmp_path: Path) -> None:
    called: list[bool] = []

    def finish() -> IngestReport:
        called.append(True)
        return IngestReport()

    with pytest.raises(InputError, match="needs a Chroma server"):
        ingest_in_workers([tmp_path], settings=Settings(store_path=tmp_path / "s"), workers=2, finish=finish)
    assert not called  # refused before anything was written
