"""Reaching Chroma: the config that names a collection, its client (embedded, or a `chroma run` server),
a look at a store that creates nothing, and the errors that say what to do."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.settings import Settings

META_PREFIX = "leanrag:"


class StoreError(RuntimeError):
    """The store cannot be used as asked; the message says what to do."""


class StoreBusy(StoreError):
    """Another process holds the writer lock of an embedded store."""


@dataclass(frozen=True)
class StoreConfig:
    """Where a store lives: an embedded folder, or a collection on a Chroma server."""

    path: Path
    collection: str
    host: str | None = None
    port: int = 8000
    lease_wait: float = 600.0  # seconds a writer waits for its turn on a Chroma server

    @classmethod
    def of(cls, s: Settings) -> StoreConfig:
        st = s.store
        return cls(Path(st.store_path), st.collection, st.chroma_host, st.chroma_port, s.ingest.writer_lease_wait)


def client_for(config: StoreConfig):  # noqa: ANN202 - chromadb client
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if config.host:
        try:
            return chromadb.HttpClient(host=config.host, port=config.port,
                                       settings=chroma_settings)
        except Exception as e:  # chromadb raises bare ValueError/ConnectionError variants
            raise StoreError(
                f"cannot reach the Chroma server at {config.host}:{config.port} ({e}); "
                "start one with `chroma run --path DIR --host 127.0.0.1 --port PORT` or unset RAG_CHROMA_HOST"
            ) from e
    path = Path(config.path)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def peek(config: StoreConfig) -> dict[str, Any] | None:
    """What a store holds (chunks, embedding model), creating nothing: None when there is no such collection
    (an embedded folder that does not exist is not made, as opening it for a store would)."""
    if not config.host and not (Path(config.path) / "chroma.sqlite3").exists():
        return None
    client = client_for(config)
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    if config.collection not in names:
        return None
    collection = client.get_collection(config.collection, embedding_function=None)
    meta = collection.metadata or {}
    return {"chunks": collection.count(), "embedding_model": meta.get(f"{META_PREFIX}embedding_model")}
