"""Memoisation bounded in bytes, for views computed from a text alone.

The same stored passages and sentences come back question after question, so their lexical views are
worth keeping; a caller's passages are new every time and can be long. A cache bounded by entries keeps
whatever a hostile client sends (forty calls with two 99k-character passages once held ~470 MB), so each
cache here is bounded by an estimate of the bytes it holds, and a text too long to be a stored chunk
or sentence is computed without being kept at all. While a call over a caller's passages runs
(``keeping(False)``), the memos answer from what they hold but keep nothing new: those texts are seldom
seen twice, and keeping them would grow the service with every hostile call.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, wraps
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

# A derived view (terms, stems, sets) costs several times its text: a term is a str object of ~50 bytes
# for ~6 characters of text. 12x the characters, plus a fixed overhead, errs on the large side.
BYTES_PER_CHAR = 12
ENTRY_OVERHEAD = 400
# Longer than any chunk (chunk_size is counted in tokens, ~4-5 characters each, at most a few thousand)
# is a caller's document: computed, not kept.
LONGEST_KEPT = 8_000

_registry: list[ByteLRU] = []
_keeping: ContextVar[bool] = ContextVar("leanrag_memo_keeping", default=True)


@contextmanager
def keeping(keep: bool) -> Iterator[None]:
    """Within this block the memos keep what they compute only if ``keep`` (a context variable: per thread)."""
    token = _keeping.set(keep)
    try:
        yield
    finally:
        _keeping.reset(token)


class ByteLRU:
    """A least-recently-used memo whose entries' estimated size stays under ``max_bytes``."""

    def __init__(self, fn: Callable[..., Any], max_bytes: int, longest: int) -> None:
        self.fn, self.max_bytes, self.longest = fn, max_bytes, longest
        self._data: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0

    def __call__(self, *args: Any) -> Any:
        chars = sum(len(a) for a in args if isinstance(a, str))
        if chars > self.longest:
            return self.fn(*args)
        with self._lock:
            hit = self._data.get(args)
            if hit is not None:
                self._data.move_to_end(args)
                return hit[0]
        value = self.fn(*args)
        if not _keeping.get():
            return value
        size = chars * BYTES_PER_CHAR + ENTRY_OVERHEAD
        with self._lock:
            if args not in self._data:
                self._data[args] = (value, size)
                self.bytes += size
            while self.bytes > self.max_bytes and self._data:
                _, (_, gone) = self._data.popitem(last=False)
                self.bytes -= gone
        return value

    def cache_clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._data)


def byte_lru(max_mb: float, longest: int = LONGEST_KEPT) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: memoise a function of hashable (mostly string) arguments within ``max_mb`` megabytes."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        memo = ByteLRU(fn, int(max_mb * 1_000_000), longest)
        _registry.append(memo)
        out = wraps(fn)(memo)
        return out  # type: ignore[return-value]

    return wrap


def memo_bytes() -> int:
    """Estimated bytes held by every text memo of this process (for /metrics and the RSS benchmark)."""
    return sum(m.bytes for m in _registry)


_TRIM_EVERY = 1.0  # seconds: a trim walks the heap, so not after every request of a busy service
_last_trim = 0.0
_trim_lock = threading.Lock()


def give_back_memory(*, force: bool = False) -> None:
    """Return freed heap memory to the system (glibc's ``malloc_trim``; elsewhere nothing), at most once a
    second. Long caller passages leave freed blocks that glibc keeps: a service's RSS grew by hundreds of MB
    that nothing held (measured: 1,074 MB kept vs 796 MB trimmed, the same calls)."""
    global _last_trim
    with _trim_lock:
        now = time.monotonic()
        if (now - _last_trim < _TRIM_EVERY and not force) or _libc() is None:
            return
        _last_trim = now
    _libc().malloc_trim(0)  # type: ignore[union-attr]


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return lib if hasattr(lib, "malloc_trim") else None
