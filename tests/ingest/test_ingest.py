"""Integration: real model, real Chroma (embedded and `chroma run`), real subprocesses."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, Settings
from rag.index.store import Store, StoreBusy, StoreConfig, StoreError
from tests.conftest import SHARED, free_port

pytestmark = pytest.mark.integration


def _snapshot(settings: Settings, embedder) -> tuple[dict[str, tuple], dict[str, np.ndarray]]:
    """Ids, documents and metadata (compared exactly) and unit vectors (compared by cosine: a resumed run
    embeds in other batches than a clean one, which moves float32 components in the fifth decimal)."""
    store = Store(StoreConfig.of(settings), model=settings.ingest.embedding_model, dimension=embedder.dimension,
                  create=False)
    got = store.collection.get(include=["documents", "metadatas", "embeddings"])
    rows = {i: (d, tuple(sorted(m.items())))
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}
    vecs = {i: np.asarray(e, dtype=np.float64) for i, e in zip(got["ids"], got["embeddings"], strict=True)}
    return rows, {i: v / np.linalg.norm(v) for i, v in vecs.items()}


def _assert_same_store(a: tuple[dict, dict], b: tuple[dict, dict]) -> None:
    assert a[0] == b[0]
    low = [i for i in a[1] if float(a[1][i] @ b[1][i]) < 0.9999]
    assert not low, f"vectors differ beyond batching noise for {low[:5]}"


def _pipeline(tmp_path: Path, embedder, name: str = "store", **kw) -> Pipeline:
    return Pipeline(Settings(store_path=tmp_path / name, **kw), embedder=embedder)


def test_incremental_ingest_embedded(tmp_path: Path, corpus_copy: Path, embedder) -> None:
    p = _pipeline(tmp_path, embedder)
    first = p.ingest([corpus_copy])
    assert first.files == 26 and first.skipped == [] and first.added == first.embedded > 26
    n = p.store().count()
    assert n == first.added

    again = p.ingest([corpus_copy])
    assert (again.embedded, again.added, again.removed, again.unchanged) == (0, 0, 0, n)

    # change one file: only its chunks are touched
    target = corpus_copy / "pruning.md"
    target.write_text(target.read_text() + "\n\n## A new section\n\nPruning also saves money.\n")
    changed = p.ingest([corpus_copy])
    assert changed.embedded >= 1 and changed.added == 0 and changed.updated == changed.embedded
    assert changed.embedded <= 3
    hits = p.store().collection.get(where={"source": str(target.resolve())}, include=["documents"])
    assert any("saves money" in d for d in hits["documents"])

    # delete one file: its chunks go, nothing else does
    gone = corpus_copy / "sourdough.md"
    gone_chunks = len(p.store().collection.get(where={"source": str(gone.resolve())})["ids"])
    gone.unlink()
    deleted = p.ingest([corpus_copy])
    assert deleted.removed == gone_chunks > 0 and deleted.embedded == 0
    assert p.store().collection.get(where={"source": str(gone.resolve())})["ids"] == []

    # a file that turns broken is reported and keeps its chunks: nothing is lost
    broken = corpus_copy / "costs.md"
    before = len(p.store().collection.get(where={"source": str(broken.resolve())})["ids"])
    broken.write_bytes(b"\x00\x01binary now")
    report = p.ingest([corpus_copy])
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [("costs.md", "binary file (contains NUL bytes)")]
    assert len(p.store().collection.get(where={"source": str(broken.resolve())})["ids"]) == before

    # the final state equals a clean run over the same files
    broken.write_text("# Estimating cost\n\nNow rewritten.\n")
    p.ingest([corpus_copy])
    clean = _pipeline(tmp_path, embedder, "clean")
    clean.ingest([corpus_copy])
    _assert_same_store(_snapshot(p.settings, embedder), _snapshot(clean.settings, embedder))


def test_other_model_or_dimension_is_refused(tmp_path: Path, corpus_copy: Path, embedder) -> None:
    p = _pipeline(tmp_path, embedder)
    p.ingest([corpus_copy / "pruning.md"])
    with pytest.raises(StoreError, match="Re-index"):
        Store(StoreConfig.of(p.settings), model="some/other-model", dimension=384)
    with pytest.raises(StoreError, match="dimension 768"):
        Store(StoreConfig.of(p.settings), model=p.settings.ingest.embedding_model, dimension=768)


def test_changing_chunk_size_rechunks(tmp_path: Path, corpus_copy: Path, embedder) -> None:
    p = _pipeline(tmp_path, embedder)
    a = p.ingest([corpus_copy / "hybrid-retrieval.md"])
    q = _pipeline(tmp_path, embedder, chunk_size=40, chunk_overlap=4)
    b = q.ingest([corpus_copy / "hybrid-retrieval.md"])
    assert b.embedded > a.embedded and b.removed == a.added
    assert q.store().collection.metadata["leanrag:chunk_size"] == 40


def test_second_writer_is_refused_at_once(tmp_path: Path, corpus_copy: Path, embedder) -> None:
    p = _pipeline(tmp_path, embedder)
    p.ingest([corpus_copy / "pruning.md"])
    with p.store().writer():
        with pytest.raises(StoreBusy, match="another process is writing"):
            p.ingest([corpus_copy])
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(corpus_copy), "--store",
                               str(p.settings.store.store_path)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "another process is writing" in proc.stderr
        assert time.monotonic() - t0 < 60


def _corpus_from_scifact(dst: Path, n: int) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    with (SHARED / "scifact" / "corpus.jsonl").open() as f:
        lines = [next(f) for _ in range(n)]
    (dst / "scifact-part.jsonl").write_text("".join(lines))
    return dst


def test_killed_ingest_converges_to_a_clean_run(tmp_path: Path, embedder) -> None:
    corpus = _corpus_from_scifact(tmp_path / "sci", 300)
    store = tmp_path / "killed"
    env = {**os.environ, "RAG_WRITE_BATCH": "32"}
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest", str(corpus), "--store", str(store), "-v"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "wrote batch 2/" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    partial = Pipeline(Settings(store_path=store), embedder=embedder)
    assert 0 < partial.store().count()

    report = partial.ingest([corpus])
    assert report.embedded > 0 and report.unchanged >= 64
    clean = _pipeline(tmp_path, embedder, "clean")
    clean.ingest([corpus])
    killed_state = _snapshot(partial.settings, embedder)
    _assert_same_store(killed_state, _snapshot(clean.settings, embedder))
    assert len(killed_state[0]) == clean.store().count()


@pytest.fixture
def chroma_server(tmp_path: Path):
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import urllib.request

    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("chroma server did not start") from None
            time.sleep(0.3)
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def test_ingest_into_chroma_server(tmp_path: Path, corpus_copy: Path, embedder, chroma_server: int,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("RAG_CHROMA_PORT", str(chroma_server))
    p = Pipeline(Settings(), embedder=embedder)
    first = p.ingest([corpus_copy])
    assert first.embedded > 26 and p.store().count() == first.embedded
    again = p.ingest([corpus_copy])
    assert again.embedded == 0 and again.unchanged == first.embedded
    hits = p.search("What is the usual constant in reciprocal rank fusion?", k=2)
    assert any("60" in c.text for c in hits) and all(0 <= c.score <= 1 for c in hits)


def test_cli_ingest_json_and_config_show(tmp_path: Path, corpus_copy: Path) -> None:
    store = tmp_path / "cli-store"
    out = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(corpus_copy / "pruning.md"),
                          str(corpus_copy / "nope.md"), "--store", str(store), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and f"no such file or folder: {corpus_copy / 'nope.md'}" in out.stderr  # a typo fails
    report = json.loads(out.stdout)  # ... after ingesting the rest
    assert report["files"] == 1 and report["added"] >= 1
    assert report["skipped"] == [{"path": str(corpus_copy / "nope.md"), "reason": "no such file or folder"}]
    out = subprocess.run([sys.executable, "-m", "rag.cli", "config", "show", "--json", "--store", str(store),
                          "--set", "chunk_size=99"], capture_output=True, text=True, timeout=60, check=True)
    shown = json.loads(out.stdout)
    assert shown["store"]["store_path"] == str(store) and shown["ingest"]["chunk_size"] == 99


def test_duplicated_records_across_files_ingest_cleanly(tmp_path: Path, embedder) -> None:
    """`rag ingest a/ b/` where b/ repeats some of a/'s SciFact lines (and c/ is a copy of a/): no
    DuplicateIDError, every file owns its chunks, the report says so, re-ingest embeds nothing, and
    removing one copy leaves the other whole."""
    a = _corpus_from_scifact(tmp_path / "a", 30)
    lines = (a / "scifact-part.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "overlap.jsonl").write_text("".join(lines[10:30]))
    shutil.copytree(a, tmp_path / "c")
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(a), str(tmp_path / "b"), str(tmp_path / "c"),
                           "--store", str(tmp_path / "store")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "50 document(s) repeat another file's" in proc.stdout
    p = _pipeline(tmp_path, embedder)
    per_source: dict[str, int] = {}
    for m in p.store().collection.get(include=["metadatas"])["metadatas"]:
        per_source[Path(str(m["source"])).parent.name] = per_source.get(Path(str(m["source"])).parent.name, 0) + 1
    assert per_source["a"] == per_source["c"] and per_source["b"] > 0
    again = p.ingest([a, tmp_path / "b", tmp_path / "c"])
    assert again.embedded == 0 and again.added == 0 and again.removed == 0
    shutil.rmtree(tmp_path / "c")
    after = p.ingest([a, tmp_path / "b", tmp_path / "c"])
    assert after.removed == per_source["c"] and after.embedded == 0
    left = {Path(str(m["source"])).parent.name for m in p.store().collection.get(include=["metadatas"])["metadatas"]}
    assert left == {"a", "b"} and p.store().count() == per_source["a"] + per_source["b"]


def _sentence_rows(settings: Settings, embedder) -> dict[str, tuple]:
    store = Store(StoreConfig.of(settings), model=settings.ingest.embedding_model, dimension=embedder.dimension,
                  create=False)
    got = store.sentences.get(include=["metadatas"])
    return {i: tuple(sorted(m.items())) for i, m in zip(got["ids"], got["metadatas"], strict=True)}


def test_concurrent_ingests_on_a_chroma_server_converge(tmp_path: Path, embedder, chroma_server: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `rag ingest` processes over overlapping corpora, and a third writer re-running an ingest (each run
    ends with an orphan sweep) all the while: the store ends id by id as one clean ingest leaves it."""
    with (SHARED / "scifact" / "corpus.jsonl").open() as f:
        lines = [next(f) for _ in range(150)]
    parts = {"a": lines[:20], "shared": lines[20:40], "b": lines[40:60]}
    for name, part in parts.items():
        (tmp_path / "sci" / name).mkdir(parents=True)
        (tmp_path / "sci" / name / "part.jsonl").write_text("".join(part))
    small = tmp_path / "sci" / "small"
    small.mkdir()
    (small / "one.md").write_text("# Sweeps\n\nEvery ingest ends by sweeping orphan sentence rows.\n")
    sci = tmp_path / "sci"

    env = {**os.environ, "RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(chroma_server),
           "RAG_WRITE_BATCH": "8"}
    procs = [subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest", str(sci / x), str(sci / y), "--json"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for x, y in (("a", "shared"), ("shared", "b"))]
    monkeypatch.setenv("RAG_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("RAG_CHROMA_PORT", str(chroma_server))
    third = Pipeline(Settings(), embedder=embedder)
    runs = 0
    while any(p.poll() is None for p in procs):
        third.ingest([small], progress=False)
        runs += 1
        time.sleep(0.2)
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, err
    assert runs >= 3

    monkeypatch.delenv("RAG_CHROMA_HOST")
    clean = _pipeline(tmp_path, embedder, "clean")
    clean.ingest([sci / "a", sci / "shared", sci / "b", small], progress=False)
    served = Settings(chroma_host="127.0.0.1", chroma_port=chroma_server)
    _assert_same_store(_snapshot(served, embedder), _snapshot(clean.settings, embedder))
    assert _sentence_rows(served, embedder) == _sentence_rows(clean.settings, embedder)


def test_ingest_workers_share_the_files_and_converge(tmp_path: Path, corpus_copy: Path, embedder,
                                                     chroma_server: int) -> None:
    def cli(*extra: str, env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(corpus_copy), "--json", *extra],
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=600)

    refused = cli("--workers", "2", "--store", str(tmp_path / "embedded"), env={})
    assert refused.returncode == 2 and "--workers needs a Chroma server" in refused.stderr

    server = {"RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(chroma_server)}
    first = cli("--workers", "2", env=server)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    clean = _pipeline(tmp_path, embedder, "clean")
    clean_report = clean.ingest([corpus_copy])
    assert (report["files"], report["added"], report["embedded"], report["unchanged"]) == (
        26, clean_report.added, clean_report.embedded, 0)
    served = Settings(chroma_host="127.0.0.1", chroma_port=chroma_server)
    _assert_same_store(_snapshot(served, embedder), _snapshot(clean.settings, embedder))
    assert _sentence_rows(served, embedder) == _sentence_rows(clean.settings, embedder)

    gone = corpus_copy / "sourdough.md"
    gone.unlink()
    again = json.loads(cli("--workers", "2", env=server).stdout)
    clean_again = clean.ingest([corpus_copy])
    assert again["embedded"] == 0 and again["removed"] == clean_again.removed > 0
    assert again["unchanged"] == clean_again.unchanged
    _assert_same_store(_snapshot(served, embedder), _snapshot(clean.settings, embedder))


def test_stored_chunks_carry_their_context_token_counts(tmp_path: Path, corpus_copy: Path, embedder) -> None:
    """Ingest counts each chunk and sentence with the context tokenizer, so retrieval reads the counts
    instead of tokenising a pool it sees for the first time; a store written before counts were kept
    (or under another tokenizer) gets them from the next ingest, which embeds nothing."""
    from rag.index.records import counts_of
    from rag.text import sentence_spans
    from rag.tokens import count_tokens

    p = _pipeline(tmp_path, embedder)
    p.ingest([corpus_copy])
    got = p.store().collection.get(include=["documents", "metadatas"])
    for text, meta in zip(got["documents"], got["metadatas"], strict=True):
        counts = counts_of(meta)
        assert counts is not None and counts.tokenizer == "o200k_base"
        assert counts.text == count_tokens(text)
        assert counts.sentences == tuple(count_tokens(text[a:b]) for a, b in sentence_spans(text))

    # retrieval of stored chunks tokenises only texts ingest did not count (joined contexts)
    counter = p._counter(p.settings)
    ctx = p.retrieve("How does reciprocal rank fusion combine rankings?")
    assert ctx.passages and ctx.tokens == count_tokens(ctx.text)
    assert counter.misses < counter.lookups / 2

    # an older store: no counts, and file fingerprints made without the tokenizer among the chunking
    # parameters; the next ingest restores the counts, embedding nothing
    old = [{**m, "tokenizer": None, "context_tokens": None, "sentence_tokens": None, "fingerprint": "older"}
           for m in got["metadatas"]]
    p.store().collection.update(ids=got["ids"], metadatas=old)
    assert all(counts_of(m) is None for m in p.store().collection.get(include=["metadatas"])["metadatas"])
    again = p.ingest([corpus_copy])
    assert again.embedded == 0 and again.unchanged == len(got["ids"])
    assert p.store().collection.get(include=["metadatas"])["metadatas"] == got["metadatas"]

    # another tokenizer: relabelled with its counts, and the o200k pipeline no longer trusts them
    cl = _pipeline(tmp_path, embedder, tokenizer="cl100k_base")
    assert cl.ingest([corpus_copy]).embedded == 0
    metas = cl.store().collection.get(include=["documents", "metadatas"])
    for text, meta in zip(metas["documents"], metas["metadatas"], strict=True):
        counts = counts_of(meta)
        assert counts is not None and counts.tokenizer == "cl100k_base"
        assert counts.text == count_tokens(text, "cl100k_base")
    fresh = _pipeline(tmp_path, embedder)
    ctx = fresh.retrieve("How does reciprocal rank fusion combine rankings?")
    assert all(p.tokens == count_tokens(p.text) for p in ctx.passages)


def test_odd_files_are_skipped_by_name_and_the_rest_ingested(tmp_path: Path, embedder) -> None:
    """A file name that is not UTF-8 once aborted the whole ingest (TypeError); a symbolic link out of the
    folder was stored under the outside path and never removed."""
    folder, outside = tmp_path / "docs", tmp_path / "outside.md"
    folder.mkdir()
    (folder / "good.md").write_text("# Good\nQuokkas live on Rottnest Island.\n")
    outside.write_text("# Outside\nThis file lives elsewhere.\n")
    (folder / "link.md").symlink_to(outside)
    bad_name = os.fsencode(folder) + b"/caf\xe9.md"  # Latin-1 bytes: not UTF-8
    with open(bad_name, "wb") as f:
        f.write(b"# Cafe\nA note.\n")
    report = Pipeline(Settings(store_path=tmp_path / "store"), embedder=embedder).ingest([folder])
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert report.files == 1 and report.added >= 1
    assert "not valid UTF-8" in reasons["caf\ufffd.md"]
    assert "outside the folder" in reasons["link.md"]
