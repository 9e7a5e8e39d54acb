"""Chroma, the one source of truth: embedded PersistentClient, or HttpClient for a `chroma run` server."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rag.index.chroma import META_PREFIX, StoreBusy, StoreConfig, StoreError, client_for
from rag.index.mirror import VectorMirror
from rag.index.records import SourceState, StoredChunk, chunk_metas, chunks_of, stored_chunk
from rag.settings import Settings
from rag.text import embed_text
from rag.types import Chunk

log = logging.getLogger(__name__)


def open_store(s: Settings, dimension: int, *, create: bool = False) -> Store:
    """The collection the settings name, checked against the embedding model and its vector size."""
    return Store(StoreConfig.of(s), model=s.ingest.embedding_model, dimension=dimension, create=create)


class Store:
    """One Chroma collection, checked against the embedding model and chunking it was built with."""

    def __init__(self, config: StoreConfig, *, model: str, dimension: int, create: bool = True) -> None:
        self.config = config
        self._served: Any = None  # the serve lock, while this process serves the store
        self._leases: Any = None  # the Chroma server's lease collection, once a write section needed it
        self.location = f"{config.host}:{config.port}" if config.host else str(config.path)
        self.client = client_for(config)
        want = {f"{META_PREFIX}embedding_model": model, f"{META_PREFIX}dimension": dimension}
        names = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
        if config.collection in names:
            self.collection = self.client.get_collection(config.collection, embedding_function=None)
            have = self.collection.metadata or {}
            for key, value in want.items():
                if key in have and have[key] != value:
                    raise StoreError(
                        f"collection {config.collection!r} in {self.location} was built with "
                        f"{have.get(META_PREFIX + 'embedding_model')} "
                        f"(dimension {have.get(META_PREFIX + 'dimension')}), "
                        f"but this run uses {model} (dimension {dimension}). Re-index: delete {self.location} "
                        "(or choose another --collection / RAG_COLLECTION) and run `rag ingest` again, "
                        "or set embedding_model back to the one the collection was built with."
                    )
        elif create:
            meta = {"hnsw:space": "cosine", **want}
            self.collection = self.client.create_collection(
                config.collection, embedding_function=None, metadata=meta
            )
        else:
            raise StoreError(
                f"no collection {config.collection!r} in {self.location}: run `rag ingest PATH` first"
            )

        # Sentence vectors live in a sibling collection: chunk-level search finds the passage,
        # sentence-level vectors let the reranker and the pruner judge its parts without re-encoding.
        self.sentences = self.client.get_or_create_collection(
            f"{config.collection}-sentences", embedding_function=None,
            metadata={"hnsw:space": "cosine", **want},
        )

    # ---- reading -----------------------------------------------------------------------
    def count(self) -> int:
        return self.collection.count()

    def _pages(self, include: list[str], where: dict | None = None, page: int = 2000,
               collection: Any = None) -> Iterator[dict]:
        """The rows of ``collection`` (the chunks unless another is named), a page at a time."""
        source = self.collection if collection is None else collection
        offset = 0
        while True:
            got = source.get(include=include, where=where, limit=page, offset=offset)
            if not got["ids"]:
                return
            yield got
            offset += len(got["ids"])

    def source_states(self) -> dict[str, SourceState]:
        states: dict[str, SourceState] = {}
        for got in self._pages(["metadatas"]):
            for cid, meta in zip(got["ids"], got["metadatas"], strict=True):
                st = states.setdefault(str(meta["source"]), SourceState())
                st.ids.add(cid)
                st.fingerprints.add(str(meta.get("fingerprint", "")))
                st.expected = int(meta.get("file_chunks", -1))
        return states

    def all_chunks(self) -> list[StoredChunk]:
        out = [c for got in self._pages(["metadatas", "documents"]) for c in chunks_of(got)]
        out.sort(key=lambda c: c.id)
        return out

    def _dimension(self) -> int:
        return int((self.collection.metadata or {}).get(f"{META_PREFIX}dimension", 0)) or 1

    def fits_mirror(self, max_bytes: float) -> bool:
        """Whether the chunks' and sentences' vectors fit in ``max_bytes`` (float32 rows and their float16
        copy, see mirror.py)."""
        return (self.count() + self.sentences.count()) * self._dimension() * 6 <= max_bytes

    def lexical_texts(self) -> tuple[list[str], list[str]]:
        """Every chunk's id and lexical text (title and text), sorted by id, without keeping the chunks."""
        rows = [(cid, embed_text(str(meta.get("title", "")), doc or ""))
                for got in self._pages(["metadatas", "documents"])
                for cid, meta, doc in zip(got["ids"], got["metadatas"], got["documents"], strict=True)]
        rows.sort()
        return [r[0] for r in rows], [r[1] for r in rows]

    def derived_dir(self) -> Path:
        """Where data derived from this collection is kept (the saved BM25 index): beside an embedded store's
        folder, or beside ``store_path`` named for the server."""
        c = self.config
        name = f"{c.host}-{c.port}-{c.collection}" if c.host else c.collection
        return Path(f"{c.path}.derived") / name

    def mirror(self, max_bytes: float) -> tuple[list[StoredChunk], VectorMirror | None]:
        """All chunks sorted by id and, when their vectors and their sentences' fit in ``max_bytes``, the
        vectors too (one pass over each collection)."""
        if not self.fits_mirror(max_bytes):
            return self.all_chunks(), None
        dim = self._dimension()
        rows: list[tuple[StoredChunk, np.ndarray]] = []
        for got in self._pages(["metadatas", "documents", "embeddings"]):
            rows += [(stored_chunk(cid, meta, doc), emb) for cid, meta, doc, emb in
                     zip(got["ids"], got["metadatas"], got["documents"], got["embeddings"], strict=True)]
        rows.sort(key=lambda r: r[0].id)
        chunks = [c for c, _ in rows]
        owners: list[str] = []
        order: list[int] = []
        spans: list[tuple[int, int]] = []
        parts: list[np.ndarray] = []
        for got in self._pages(["metadatas", "embeddings"], page=5000, collection=self.sentences):
            for meta in got["metadatas"]:
                owners.append(str(meta["chunk_id"]))
                order.append(int(meta["i"]))
                spans.append((int(meta["s"]), int(meta["e"])))
            parts.append(np.asarray(got["embeddings"], dtype=np.float32))
        vectors = (np.asarray([v for _, v in rows], dtype=np.float32) if rows
                   else np.zeros((0, dim), dtype=np.float32))  # an empty store is mirrored too
        sentence_vectors = np.concatenate(parts) if parts else np.zeros((0, vectors.shape[1]), np.float32)
        return chunks, VectorMirror.build(tuple(c.id for c in chunks), vectors, owners, order, spans,
                                          sentence_vectors)

    def version(self) -> str:
        """A token that every ingest changes (before and after it writes): cheap staleness checks.

        Read from the server each time, so that another process's ingest is seen too. Only the collection's
        metadata: Chroma counts a collection by scanning it (163 ms at 1M chunks, checked twice a second).
        """
        meta = self.client.get_collection(self.config.collection, embedding_function=None).metadata or {}
        return str(meta.get(META_PREFIX + "version", ""))

    def bump_version(self) -> None:
        meta = dict(self.collection.metadata or {})
        meta[META_PREFIX + "version"] = uuid.uuid4().hex
        meta.pop("hnsw:space", None)
        self.collection.modify(metadata=meta)

    def query(self, embedding: np.ndarray, k: int, where: dict | None = None) -> list[tuple[StoredChunk, float]]:
        # No count first: Chroma answers a k above the collection's size (or an empty one) with what it
        # has, and counting scans the collection (163 ms at 1M chunks, 3M sentences: more than the search)
        res = self.collection.query(
            query_embeddings=[embedding.tolist()], n_results=k, where=where,
            include=["metadatas", "documents", "distances"],
        )
        return [
            (stored_chunk(cid, meta, doc), 1.0 - float(dist))
            for cid, meta, doc, dist in zip(res["ids"][0], res["metadatas"][0], res["documents"][0],
                                            res["distances"][0], strict=True)
        ]

    def query_sentences(self, embedding: np.ndarray, k: int,
                        where: dict | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine of its best sentence) for the ``k`` nearest sentences."""
        res = self.sentences.query(query_embeddings=[embedding.tolist()], n_results=k, where=where,
                                   include=["metadatas", "distances"])
        return [(str(m["chunk_id"]), 1.0 - float(d)) for m, d in zip(res["metadatas"][0], res["distances"][0],
                                                                    strict=True)]

    def sentence_vectors(self, chunk_ids: list[str]) -> dict[str, tuple[list[tuple[int, int]], np.ndarray]]:
        """For each chunk: its sentence spans (offsets into the chunk text) and their unit vectors."""
        if not chunk_ids:
            return {}
        got = self.collection.get(ids=list(chunk_ids), include=["metadatas"])
        return self._sentences_of(list(chunk_ids), got)

    def evidence(self, chunk_ids: list[str]) -> dict[str, tuple[np.ndarray, list[tuple[int, int]], np.ndarray]]:
        """For each chunk: its vector, its sentence spans and their vectors (the chunk rows read once)."""
        if not chunk_ids:
            return {}
        got = self.collection.get(ids=list(chunk_ids), include=["metadatas", "embeddings"])
        sents = self._sentences_of(list(chunk_ids), got)
        return {cid: (np.asarray(e, dtype=np.float32), *sents[cid])
                for cid, e in zip(got["ids"], got["embeddings"], strict=True) if cid in sents}

    def _sentences_of(self, chunk_ids: list[str], chunks: Any) -> dict[str, tuple[list[tuple[int, int]], np.ndarray]]:
        """The sentences of ``chunk_ids``, whose chunk rows (with metadata) are ``chunks``. A chunk records how
        many sentences it has and its sentences' ids follow from its own, so they are read by id; a filter
        on ``chunk_id`` scans the sentence collection (780 ms a query at 3M sentences, against a few ms by
        id). Chunks written without the count are read by the filter."""
        counted = {cid: int(m["sentences"]) for cid, m in zip(chunks["ids"], chunks["metadatas"], strict=True)
                   if m and "sentences" in m}
        include: Any = ["metadatas", "embeddings"]
        parts = []
        if counted:
            parts.append(self.sentences.get(ids=[f"{cid}:{i}" for cid, n in counted.items() for i in range(n)],
                                            include=include))
        rest = [cid for cid in chunk_ids if cid not in counted]
        if rest:
            parts.append(self.sentences.get(where={"chunk_id": {"$in": rest}}, include=include))
        rows: dict[str, list[tuple[int, int, int, np.ndarray]]] = {}
        for got in parts:
            for meta, emb in zip(got["metadatas"], got["embeddings"], strict=True):
                rows.setdefault(str(meta["chunk_id"]), []).append(
                    (int(meta["i"]), int(meta["s"]), int(meta["e"]), emb))
        out = {}
        for cid, items in rows.items():
            items.sort(key=lambda r: r[0])
            out[cid] = ([(s, e) for _, s, e, _ in items], np.asarray([r[3] for r in items], dtype=np.float32))
        return out

    def chunks(self, ids: list[str]) -> list[StoredChunk]:
        """The stored chunks with these ids (those that exist), in the store's order."""
        if not ids:
            return []
        return chunks_of(self.collection.get(ids=ids, include=["metadatas", "documents"]))

    def matching(self, where: dict) -> set[str]:
        """Ids of the chunks whose metadata pass the Chroma ``where`` filter."""
        return set(self.collection.get(where=where, include=[])["ids"])

    def embeddings(self, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self.collection.get(ids=ids, include=["embeddings"])
        return {cid: np.asarray(e, dtype=np.float32) for cid, e in zip(got["ids"], got["embeddings"], strict=True)}

    # ---- writing -----------------------------------------------------------------------
    def upsert(self, chunks: list[Chunk], embeddings: np.ndarray, extra: list[dict[str, Any]],
               sentences: list[list[tuple[int, int]]], sentence_embeddings: np.ndarray) -> None:
        """Write chunks with their sentence vectors; sentences first, so a stored chunk has them all."""
        ids, metas, row = [], [], 0
        for c, spans in zip(chunks, sentences, strict=True):
            for i, (s, e) in enumerate(spans):
                ids.append(f"{c.id}:{i}")
                metas.append({"chunk_id": c.id, "doc_id": c.doc_id, "source": c.source, "i": i, "s": s, "e": e})
                row += 1
        if row != len(sentence_embeddings):
            raise ValueError("one sentence vector per sentence span is required")
        # Chroma refuses a write over its batch limit (5,461 rows embedded): 256 chunks of many short
        # sentences (a list, a table) pass it.
        step = self.client.get_max_batch_size()
        for i in range(0, len(ids), step):
            self.sentences.upsert(ids=ids[i:i + step], embeddings=sentence_embeddings[i:i + step].tolist(),
                                  metadatas=metas[i:i + step])
        rows = chunk_metas(chunks, extra)
        for i in range(0, len(chunks), step):
            part = chunks[i:i + step]
            self.collection.upsert(ids=[c.id for c in part], embeddings=embeddings[i:i + step].tolist(),
                                   documents=[c.text for c in part], metadatas=rows[i:i + step])

    def relabel(self, chunks: list[Chunk], extra: list[dict[str, Any]]) -> None:
        """Rewrite metadata only (the embedding and text stay)."""
        for i in range(0, len(chunks), 2000):
            part = chunks[i:i + 2000]
            self.collection.update(ids=[c.id for c in part], metadatas=chunk_metas(part, extra[i:i + 2000]))

    def delete(self, ids: list[str]) -> None:
        """Delete chunks; their sentences go first so no sentence outlives its chunk unnoticed."""
        for i in range(0, len(ids), 1000):
            part = ids[i:i + 1000]
            self.sentences.delete(where={"chunk_id": {"$in": part}})
            self.collection.delete(ids=part)

    def sweep_sentences(self) -> int:
        """Delete sentence rows whose chunk is gone (left by a run killed between two writes)."""
        expected = sum(int(m.get("sentences", 0)) for got in self._pages(["metadatas"]) for m in got["metadatas"])
        if expected == self.sentences.count():
            return 0
        chunk_ids = {cid for got in self._pages([]) for cid in got["ids"]}
        orphans = [sid for got in self._pages(["metadatas"], page=5000, collection=self.sentences)
                   for sid, m in zip(got["ids"], got["metadatas"], strict=True) if m["chunk_id"] not in chunk_ids]
        for i in range(0, len(orphans), 5000):
            self.sentences.delete(ids=orphans[i:i + 5000])
        return len(orphans)

    def set_chunking(self, params: dict[str, Any]) -> None:
        meta = dict(self.collection.metadata or {})
        new = {f"{META_PREFIX}{k}": v for k, v in params.items()}
        if all(meta.get(k) == v for k, v in new.items()):
            return
        meta.update(new)
        meta.pop("hnsw:space", None)  # fixed at creation; Chroma refuses to modify it
        self.collection.modify(metadata=meta)

    @contextmanager
    def writer(self) -> Iterator[None]:
        """One writer per embedded store: a second one is refused at once, not left waiting. A store that
        a `rag serve` process holds (see ``serve``) is written through that service only. On a Chroma
        server many writers may run (they embed in parallel); their writes take turns in ``write_section``."""
        if self.config.host:
            yield
            return
        if self._served is None and _held(self._lock_path("serve")):
            raise StoreBusy(
                f"a `rag serve` process has the store at {self.config.path} open (Chroma's embedded "
                "store is not safe across processes): ingest through its POST /v1/ingest, or stop it first"
            )
        lock = self._try_lock("writer", f"another process is writing to the store at {self.config.path}; "
                                        "wait for it to finish, or use a Chroma server (RAG_CHROMA_HOST) when "
                                        "several processes must write")
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def write_section(self) -> Iterator[None]:
        """Writes that must not interleave with another writer's: a chunk with its sentences, a deletion, the
        orphan sweep. On a Chroma server they hold the server-side writer lease (another writer's sweep
        would otherwise delete the sentences of a chunk not yet written); an embedded store already has
        one writer, held by ``writer``."""
        if not self.config.host:
            yield
            return
        from rag.index.lease import LeaseTimeout, ServerLease

        if self._leases is None:
            self._leases = self.client.get_or_create_collection(f"{self.config.collection}-leases",
                                                                embedding_function=None)
        lease = ServerLease(self._leases, "writer", wait=self.config.lease_wait)
        try:
            lease.acquire()
        except LeaseTimeout as e:
            raise StoreBusy(f"{e} on the Chroma server at {self.location}; is an ingest stuck there?") from None
        try:
            yield
        finally:
            lease.release()

    def serve(self) -> None:
        """Hold the embedded store for a serving process's lifetime: other processes may not write it (their
        writes would not reach this process's open index) and a second server may not open it."""
        if self.config.host or self._served is not None:
            return
        lock = self._try_lock("serve", f"another `rag serve` process has the store at {self.config.path} "
                                       "open; one embedded store serves one process (use a Chroma server for more)")
        if _held(self._lock_path("writer")):
            lock.release()
            raise StoreBusy(f"an ingest is writing to the store at {self.config.path}; start the "
                            "service when it has finished")
        self._served = lock

    def release_serving(self) -> None:
        if self._served is not None:
            self._served.release()
            self._served = None

    def _lock_path(self, name: str) -> Path:
        return Path(self.config.path) / f"leanrag-{name}.lock"

    def _try_lock(self, name: str, busy: str) -> Any:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self._lock_path(name)), timeout=0, thread_local=False)  # released by other threads
        try:
            lock.acquire()
        except Timeout:
            raise StoreBusy(f"{busy} (lock {self._lock_path(name)})") from None
        return lock


def _held(path: Path) -> bool:
    """Whether another process holds the lock file at ``path`` (probed without waiting)."""
    from filelock import FileLock, Timeout

    if not path.exists():
        return False
    probe = FileLock(str(path), timeout=0, is_singleton=False)
    try:
        probe.acquire()
    except Timeout:
        return True
    probe.release()
    return False
