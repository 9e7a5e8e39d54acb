"""A writer lease kept inside a Chroma server, so ingests on several processes or machines take turns.

A `chroma run` server has no locks of its own, but it gives two operations that make one: `add` of an
id that exists is ignored (the first writer wins), and `delete` with a `where` removes a row only if
its metadata still matches (so only the owner, or a waiter that saw the owner's lease expire, can
drop it). A holder renews its lease from a background thread; a holder that dies stops renewing and
its lease expires after ``ttl`` seconds. Expiry compares wall clocks, so machines that share a
server should keep their clocks in sync (NTP), as for any lease.
"""
from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from typing import Any

log = logging.getLogger(__name__)


class LeaseTimeout(RuntimeError):
    """The lease stayed with another writer for longer than the caller would wait."""


class ServerLease:
    """``with lease:`` holds one named lease in ``collection`` (a Chroma collection used only for leases)."""

    def __init__(self, collection: Any, name: str, *, ttl: float = 30.0, wait: float = 600.0) -> None:
        self.collection, self.name, self.ttl, self.wait = collection, name, ttl, wait
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> ServerLease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        pause = 0.05
        while True:
            self.collection.add(ids=[self.name], embeddings=[[1.0]],
                                metadatas=[{"owner": self.token, "expires": time.time() + self.ttl}])
            holder = self._holder()
            if holder is not None and holder["owner"] == self.token:
                break
            if holder is not None and float(holder["expires"]) < time.time():
                log.warning("writer lease %s of %s expired (its writer died?); taking it over",
                            self.name, holder["owner"])
                self.collection.delete(ids=[self.name], where={"$and": [
                    {"owner": holder["owner"]}, {"expires": holder["expires"]}]})
                continue
            if time.monotonic() > deadline:
                raise LeaseTimeout(f"another writer has held {self.name!r} for over {self.wait:.0f} s")
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 1.0)
        self._stop.clear()
        self._beat = threading.Thread(target=self._renew, name=f"lease-{self.name}", daemon=True)
        self._beat.start()

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None
        self.collection.delete(ids=[self.name], where={"owner": self.token})

    def _holder(self) -> dict[str, Any] | None:
        got = self.collection.get(ids=[self.name], include=["metadatas"])
        return dict(got["metadatas"][0]) if got["ids"] else None

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                holder = self._holder()
                if holder is None or holder["owner"] != self.token:
                    log.error("writer lease %s was lost (renewal came too late)", self.name)
                    return
                self.collection.update(ids=[self.name],
                                       metadatas=[{"owner": self.token, "expires": time.time() + self.ttl}])
            except Exception:  # a renewal that fails once is retried at the next beat
                log.warning("could not renew writer lease %s", self.name, exc_info=True)
