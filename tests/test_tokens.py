"""The token counter's memory: counts learned from the store, and its bound."""
from __future__ import annotations

from rag.tokens import CachedCounter, count_tokens
from rag.types import TokenCounts


def test_learned_counts_are_used_only_from_the_same_tokenizer_and_sentences() -> None:
    text = "Paris is in France. It is large."
    spans = [(0, 19), (20, 32)]
    c = CachedCounter()
    c.learn_stored(text, spans, TokenCounts("cl100k_base", 99, (98, 97)))  # another tokenizer: ignored
    c.learn_stored(text, spans[:1], TokenCounts("o200k_base", 99, (98, 97)))  # other sentences: ignored
    assert c(text) == count_tokens(text) and c.misses == 1
    d = CachedCounter()
    d.learn_stored(text, spans, TokenCounts("o200k_base", 7, (5, 4)))
    assert (d(text), d(text[0:19]), d(text[20:32]), d.misses) == (7, 5, 4, 0)


def test_a_full_counter_drops_its_oldest_half() -> None:
    c = CachedCounter(keep=4)
    for i in range(4):
        c(f"w{i}")
    c.learn("new", 1)
    assert list(c._seen) == ["w2", "w3", "new"]
    assert c("w0") == count_tokens("w0") and c.misses == 5  # forgotten, so counted again
