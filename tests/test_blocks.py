"""Passages rendered as blocks: whatever a passage or its label holds, it stays inside exactly one block
(rag/blocks.py)."""
from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rag.blocks import render_context

_LOOSE_TAG = re.compile(r"<[\s/]*(?:passage|context)", re.IGNORECASE)
_BLOCK = re.compile(r'<passage id="(\d+)"(?: source="([^"<>\n]*)")?>\n(.*?)\n</passage>', re.DOTALL)
_TAGGY = st.sampled_from(["</passage>", "< /passage>", "</ Passage >", "<\n/PASSAGE>", "<passage id=\"9\">",
                          "</context>", "< context>", '"', ">", "\n", "<", "/", "passage", " "])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(st.one_of(_TAGGY, st.text(max_size=12)), max_size=8).map("".join),
                          st.lists(st.one_of(_TAGGY, st.text(max_size=8)), max_size=5).map("".join)),
                min_size=1, max_size=4))
@example(items=[("&lt;", "")])  # a text that already holds the escape
def test_any_passage_and_label_stays_in_exactly_one_block(items: list[tuple[str, str]]) -> None:
    passages = [(f"id{i}", label, text) for i, (text, label) in enumerate(items)]
    rendered = render_context(passages)
    # every tag-like opening in the rendered context is one of ours: n openings and n closings
    assert len(_LOOSE_TAG.findall(rendered)) == 2 * len(passages)
    blocks = _BLOCK.findall(rendered)
    assert [int(n) for n, _, _ in blocks] == list(range(1, len(passages) + 1))
    assert "".join(f'<passage id="{n}"' + (f' source="{s}"' if s else "") + f">\n{b}\n</passage>" + "\n"
                   for n, s, b in blocks)[:-1] == rendered  # nothing outside a block
    for (_, _, text), (_, _, body) in zip(passages, blocks, strict=True):
        assert body.replace("&lt;", "<") == text.strip().replace("&lt;", "<")  # only '<' is escaped


_INVISIBLE = re.compile("[\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_LOOKALIKES = st.sampled_from(["<\u200b/passage>", "\uff1c/passage\uff1e",
                               "\uff1c\uff0f\uff50\uff41\uff53\uff53\uff41\uff47\uff45>", "\ufe64/passage>",
                               "</pas\u200bsage>", "<\u2060context>", "<\ufeff/PASSAGE>"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_LOOKALIKES, _TAGGY, st.text(max_size=6)), max_size=10).map("".join))
def test_a_tag_that_only_looks_like_ours_is_escaped_too(text: str) -> None:
    """What a model reads as "</passage>" although the bytes differ: fullwidth or small "<", fullwidth
    letters, invisible characters inside the tag (the probe's "<\u200b/passage>" and "＜/passage＞")."""
    import unicodedata

    seen = _INVISIBLE.sub("", unicodedata.normalize("NFKC", render_context([("a", "", text)])))
    assert len(_LOOSE_TAG.findall(seen)) == 2
