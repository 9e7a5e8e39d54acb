"""The server-side writer lease, on a real Chroma collection (embedded: same add/delete semantics)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from rag.index.lease import LeaseTimeout, ServerLease


@pytest.fixture
def leases(tmp_path: Path):
    client = chromadb.PersistentClient(path=str(tmp_path / "c"), settings=ChromaSettings(anonymized_telemetry=False))
    return client.get_or_create_collection("leases", embedding_function=None)


def test_one_holder_at_a_time(leases) -> None:
    inside, most = [0], [0]
    lock = threading.Lock()

    def work() -> None:
        for _ in range(5):
            with ServerLease(leases, "writer", ttl=5.0, wait=30.0):
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.01)
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1 and inside[0] == 0
    assert leases.get(ids=["writer"])["ids"] == []


def test_a_waiter_gives_up_then_takes_over_a_dead_holders_lease(leases) -> None:
    dead = ServerLease(leases, "writer", ttl=1.0)
    dead.acquire()
    dead._stop.set()  # the holder dies: no more renewals, no release
    with pytest.raises(LeaseTimeout, match="held 'writer'"):
        ServerLease(leases, "writer", wait=0.3).acquire()
    with ServerLease(leases, "writer", wait=60.0) as heir:
        assert leases.get(ids=["writer"])["metadatas"][0]["owner"] == heir.token


def test_a_live_holder_is_renewed_past_its_ttl(leases) -> None:
    with ServerLease(leases, "writer", ttl=3.0):
        time.sleep(4.0)  # past the ttl: only renewals (every second) keep it
        with pytest.raises(LeaseTimeout):
            ServerLease(leases, "writer", wait=0.5).acquire()
