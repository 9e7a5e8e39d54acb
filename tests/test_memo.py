"""Text memos are bounded in bytes: a client sending long, ever-new passages cannot grow the process."""
from __future__ import annotations

import random
import string

import pytest

from rag.memo import LONGEST_KEPT, ByteLRU, byte_lru, memo_bytes
from rag.retrieve.features import SentenceView, _passage_terms
from rag.text import term_tuple
from rag.tokens import CachedCounter


def _text(rng: random.Random, chars: int) -> str:
    words = ("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(chars))
    return " ".join(words)[:chars]


def test_a_byte_lru_keeps_within_its_budget_and_forgets_the_oldest() -> None:
    calls: list[str] = []

    def length(s: str) -> int:
        calls.append(s)
        return len(s)

    memo = ByteLRU(length, max_bytes=20_000, longest=1_000)
    for i in range(200):
        assert memo(f"{i:04d}" * 50) == 200
        assert memo.bytes <= 20_000
    assert 0 < len(memo) < 200
    assert memo("0199" * 50) == 200 and len(calls) == 200  # the newest is remembered ...
    memo("0000" * 50)
    assert len(calls) == 201                                 # ... the oldest was forgotten
    long = "x" * 1_001
    memo(long), memo(long)
    assert calls.count(long) == 2 and long not in {k[0] for k in memo._data}  # too long to keep


def test_the_decorator_keeps_the_functions_name_and_result() -> None:
    @byte_lru(0.01)
    def shout(s: str) -> str:
        return s.upper()

    assert shout("abc") == "ABC" and shout.__name__ == "shout"


@pytest.mark.integration  # a minute of hostile traffic: the full tier only
def test_hostile_passages_leave_the_text_memos_bounded() -> None:
    """Forty requests of two 99k-character passages, as the probe sent: nothing of them is kept whole, and
    what their sentences leave stays under the memos' budgets (~64 MB in all)."""
    rng = random.Random(7)
    counter = CachedCounter(keep=100_000)
    for _ in range(40):
        for _ in range(2):
            text = _text(rng, 99_000)
            term_tuple(text)
            _passage_terms("en", "", text)
            counter(text)
            for start in range(0, len(text), 150):  # its sentences, as the features read them
                SentenceView.of("en", text[start:start + 150])
    assert memo_bytes() <= 70_000_000
    assert all(len(t) <= LONGEST_KEPT for t in counter._seen)
    assert len(counter._seen) == 0
