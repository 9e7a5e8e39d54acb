"""Network helpers shared by the service, scripts and tests: waiting for a local server (llama.cpp,
Chroma, the service) to answer, and keeping credentials out of URLs that reach a log or a client."""
from __future__ import annotations

import re
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


_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access_token|sig|signature|password)=)[^&\s#]+")


def redact(text: str) -> str:
    """``text`` with the credentials of any URL in it masked: user:password@ and key-like query values.

    >>> redact("cannot reach https://user:s3cret@llm.example/v1?api-key=abc&x=1")
    'cannot reach https://***@llm.example/v1?api-key=***&x=1'
    """
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub("***@", text))
