"""Waiting for a local server (llama.cpp, Chroma, the service) to answer, shared by scripts and tests."""
from __future__ import annotations

import subprocess
import time

import httpx


def wait_ready(url: str, *, seconds: float = 180, proc: subprocess.Popen | None = None,
               interval: float = 0.3) -> bool:
    """True once ``url`` answers 200; False after ``seconds`` or as soon as ``proc`` (the server) exits."""
    deadline = time.time() + seconds
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if (proc is not None and proc.poll() is not None) or time.time() > deadline:
            return False
        time.sleep(interval)
