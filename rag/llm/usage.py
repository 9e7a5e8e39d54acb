"""Token accounting: what the endpoint reports, or what we count when it does not, and what it costs."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from rag.types import Usage


def usage_from_response(usage: Any, *, reasoning_text: str, answer_text: str,
                        count: Callable[[str], int]) -> Usage:
    """Read an OpenAI ``usage`` object; fill what it lacks by counting the texts."""
    u = Usage()
    if usage is not None:
        u.prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        u.completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        u.cached_tokens = int(getattr(details, "cached_tokens", 0) or 0) if details else 0
        cdetails = getattr(usage, "completion_tokens_details", None)
        reported = getattr(cdetails, "reasoning_tokens", None) if cdetails else None
        if reported:
            u.reasoning_tokens, u.reasoning_source = int(reported), "usage"
    if u.reasoning_source == "none" and reasoning_text:
        u.reasoning_tokens, u.reasoning_source = count(reasoning_text), "counted"
    u.answer_tokens = count(answer_text) if answer_text else 0
    if not u.completion_tokens:  # a server that reports no usage: count it ourselves
        u.completion_tokens = u.reasoning_tokens + u.answer_tokens
    return u


class ThinkSplitter:
    """Separates ``<think>...</think>`` reasoning from the answer, also when tags arrive split across
    streamed chunks. A ``</think>`` with no opening tag (some R1 distills omit it) ends the reasoning too.

    Example:
        >>> s = ThinkSplitter(orphan_close=True)
        >>> [s.feed(x) for x in ["<thi", "nk>hm</th", "ink>Paris"]] + [s.close()]
        [('', ''), ('hm', ''), ('', 'Paris'), ('', '')]
    """

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self, *, orphan_close: bool = False) -> None:
        # Only models known to think in the open may start with reasoning and no tag; for the others,
        # text that does not open with <think> is streamed as answer at once.
        self._orphan_close = orphan_close
        self._buf = ""
        self._state: Literal["start", "think", "answer"] = "start"

    def feed(self, text: str) -> tuple[str, str]:
        self._buf += text
        reasoning, answer = "", ""
        while self._buf:
            if self._state == "start":
                stripped = self._buf.lstrip()
                if stripped.startswith(self.OPEN):
                    self._buf, self._state = stripped[len(self.OPEN):], "think"
                elif self.OPEN.startswith(stripped):
                    break  # could still become <think>
                elif not self._orphan_close:
                    self._state = "answer"
                elif self.CLOSE in self._buf:  # reasoning without an opening tag
                    head, _, self._buf = self._buf.partition(self.CLOSE)
                    reasoning += head
                    self._state = "answer"
                    self._buf = self._buf.lstrip()
                elif len(self._buf) > 4096:  # too long to be a missing-tag preamble
                    self._state = "answer"
                else:
                    break
            elif self._state == "think":
                if self.CLOSE in self._buf:
                    head, _, rest = self._buf.partition(self.CLOSE)
                    reasoning += head
                    self._buf, self._state = rest.lstrip(), "answer"
                else:
                    keep = _partial_suffix(self._buf, self.CLOSE)
                    reasoning += self._buf[: len(self._buf) - keep]
                    self._buf = self._buf[len(self._buf) - keep:]
                    break
            else:
                answer += self._buf
                self._buf = ""
        return reasoning, answer

    def close(self) -> tuple[str, str]:
        """Flush what is held back: unfinished reasoning stays reasoning, anything else is answer."""
        rest, self._buf = self._buf, ""
        if self._state == "think":
            return rest, ""
        self._state = "answer"
        return "", rest


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
