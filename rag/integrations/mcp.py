"""`rag mcp`: leanrag as Model Context Protocol tools over stdio, for agents (desktop assistants, IDEs).

Tools: ``retrieve`` (the lean context with citations and its token count), ``answer`` (the lean context
answered by the operator's configured answerer) and, only when the operator allows it, ``ingest``. A
client cannot change settings: the operator's are the ceiling. Translation only; the work is ``Pipeline``'s.
"""
from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from rag.pipeline import Pipeline
from rag.types import Context, Document

INSTRUCTIONS = ("Search the operator's document store with `retrieve` (a short, cited context: read it and "
                "cite its [n] labels) or ask `answer` for an answer with citations.")


def build_server(pipeline: Pipeline, *, allow_ingest: bool = False) -> MCPServer:
    server = MCPServer("leanrag", instructions=INSTRUCTIONS)

    @server.tool(description="The few passages of the document store that answer `question`, pruned to the "
                             "sentences that matter, with [n] citation labels and the context's token count.")
    def retrieve(question: str) -> dict[str, Any]:
        return _context(pipeline.retrieve(question))

    @server.tool(description="An answer to `question` from the document store's lean context, with its "
                             "citations; says so (abstained) when nothing relevant is stored.")
    def answer(question: str) -> dict[str, Any]:
        ans = pipeline.answer(question)
        return {"answer": ans.text, "abstained": ans.abstained, "citations": [c.__dict__ for c in ans.citations],
                "context_tokens": ans.context.tokens, "cost": ans.cost, "model": ans.model}

    if allow_ingest:
        @server.tool(description="Add or update documents ({id, text, title?, source?}); each replaces its "
                                 "earlier version with the same id.")
        def ingest(documents: list[dict[str, str]]) -> dict[str, Any]:
            docs = [Document(id=str(d["id"]), source=str(d.get("source") or f"mcp:{d['id']}"),
                             title=str(d.get("title") or ""), text=str(d["text"])) for d in documents]
            return pipeline.ingest_documents(docs).to_dict()

    return server


def _context(ctx: Context) -> dict[str, Any]:
    return {"context": "\n\n".join(f"[{i}] {p.text}" for i, p in enumerate(ctx.passages, 1)),
            "tokens": ctx.tokens, "stop_reason": ctx.trace.stop_reason,
            "citations": [{"label": i, "id": p.id, "source": p.source, "title": p.title,
                           "score": round(p.score, 4), "spans": p.spans} for i, p in enumerate(ctx.passages, 1)]}
