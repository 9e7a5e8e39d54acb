"""How passages are shown to a model, by the answer prompt and the LLM reranker alike: a label for each,
and numbered, delimited blocks that a passage's text cannot close early.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

# Any "<" that a reader could take for the start of our tags: "</passage>", "< /passage>", "</ PASSAGE",
# "<\ncontext", and what only looks like one to a model: a fullwidth or small "<" (＜, ﹤), an invisible
# character anywhere in the tag ("<\u200b/passage>"), fullwidth letters ("＜／ｐａｓｓａｇｅ＞").
_LESS = "<\uff1c\ufe64\u2039\u276e\u3008\u27e8"
_GAP = r"[\s/\uff0f\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]*"


def _letters(word: str) -> str:
    """A word matched in ASCII or fullwidth letters, either case, invisible characters between them."""
    return _GAP.join(f"[{c}{c.upper()}{chr(ord(c) + 0xFEE0)}{chr(ord(c.upper()) + 0xFEE0)}]" for c in word)


_TAG = re.compile(f"[{_LESS}](?={_GAP}(?:{_letters('passage')}|{_letters('context')}))")
_LABEL_UNSAFE = re.compile(r'[\s"<>]+')


def _escape(text: str) -> str:
    # A passage must not be able to end its block (or the context) and speak as the user.
    return _TAG.sub("&lt;", text)


def _attribute(value: str) -> str:
    """A label fit for a tag attribute: one line, no quote or angle bracket."""
    return _LABEL_UNSAFE.sub(" ", value).strip()


def label(title: str, source: str) -> str:
    """How a passage is named to a model: its title, else its file name (the answer and the reranker agree)."""
    return title or source.rsplit("/", 1)[-1]


def render_context(passages: Sequence[tuple[str, str, str]]) -> str:
    """``passages`` as (id, source, text); blocks are numbered 1..n in that order."""
    blocks = []
    for i, (_, source, text) in enumerate(passages, 1):
        src = f' source="{_attribute(source)}"' if _attribute(source) else ""
        blocks.append(f'<passage id="{i}"{src}>\n{_escape(text.strip())}\n</passage>')
    return "\n".join(blocks)
