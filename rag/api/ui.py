"""The trace page a person uses (``GET /ui``): ask, see the lean context and why everything else went,
change a toggle, run again and compare the two runs side by side.

A static page (``ui.html``, no build step) with the operator's current values filled in; it posts to
``/ui/trace``, which answers with the same self-contained HTML as ``rag retrieve --html`` (rendered by
``rag.tracepage``), shown in a sandboxed frame without scripts.
"""
from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template

from rag.settings import Settings

_PAGE = Path(__file__).with_name("ui.html")
RERANKERS = ("embedding", "cross-encoder", "llm", "none")


def page(settings: Settings) -> str:
    budget = "" if settings.prune.token_budget is None else str(settings.prune.token_budget)
    options = "".join(f"<option{' selected' if r == settings.rerank.reranker else ''}>{r}</option>" for r in RERANKERS)
    return Template(_PAGE.read_text()).substitute(
        token_budget=escape(budget), reranker=escape(settings.rerank.reranker), reranker_options=options,
        hop="true" if settings.hop.hop else "false", hop_checked="checked" if settings.hop.hop else "",
        sentence_prune="true" if settings.prune.sentence_prune else "false",
        sentence_prune_checked="checked" if settings.prune.sentence_prune else "")
