"""`rag mcp`: leanrag as Model Context Protocol tools over stdio, for agents (desktop assistants, IDEs).

Tools: ``retrieve`` (the lean context with citations and its token count), ``answer`` (the lean context
answered by the operator's configured answerer) and, only when the operator allows it, ``ingest``. A
client cannot change settings: the operator's are the ceiling. Translation only; the work is ``Pipeline``'s.
"""

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from rag.errors import InputError
from rag.index.store import StoreBusy, StoreError
from rag.llm.errors import LLMError
from rag.pipeline import Pipeline
from rag.types import Context, Document

INSTRUCTIONS = ("Search the operator's document store with `retrieve` (a short, cited context: read it and "
                "cite its [n] labels) or ask `answer` for an answer with citations.")
T = TypeVar("T")


class McpDocument(BaseModel):
    id: str = Field(min_length=1, description="the document's id: a later call with the same id replaces it")
    text: str = Field(min_length=1, description="the document's text")
    title: str = Field("", description="its title, if it has one")
    source: str = Field("", description="where it comes from (a path or URL; default mcp:<id>)")


def _reasons(call: Callable[[], T]) -> T:
    """The operator's limits and the store's state reach the agent as the reason, not as a bare failure."""
    try:
        return call()
    except (InputError, StoreBusy, StoreError, LLMError) as e:
        raise ToolError(str(e)) from e


def build_server(pipeline: Pipeline, *, allow_ingest: bool = False) -> MCPServer:
    """The tools, with the HTTP API's limits: question length and documents per call."""
    server = MCPServer("leanrag", instructions=INSTRUCTIONS)
    s = pipeline.settings
    Question = Annotated[str, Field(min_length=1, max_length=s.api.api_max_question_chars,
                                    description="the question, in the documents' language")]

    @server.tool(description="The few passages of the document store that answer `question`, pruned to the "
                             "sentences that matter, with [n] citation labels and the context's token count.")
    def retrieve(question: Question) -> dict[str, Any]:
        return _context(_reasons(lambda: pipeline.retrieve(question)))

    @server.tool(description="An answer to `question` from the document store's lean context, with its "
                             "citations; says so (abstained) when nothing relevant is stored.")
    def answer(question: Question) -> dict[str, Any]:
        ans = _reasons(lambda: pipeline.answer(question))
        return {"answer": ans.text, "abstained": ans.abstained, "citations": [c.__dict__ for c in ans.citations],
                "context_tokens": ans.context.tokens, "cost": ans.cost, "model": ans.model}

    if allow_ingest:
        Documents = Annotated[list[McpDocument], Field(min_length=1, max_length=s.api.api_max_documents,
                                                       description="the documents to add or update")]

        @server.tool(description="Add or update documents ({id, text, title?, source?}); each replaces its "
                                 "earlier version with the same id.")
        def ingest(documents: Documents) -> dict[str, Any]:
            docs = [Document(id=d.id, source=d.source or f"mcp:{d.id}", title=d.title, text=d.text)
                    for d in documents]
            return _reasons(lambda: pipeline.ingest_documents(docs)).to_dict()

    return server


def _context(ctx: Context) -> dict[str, Any]:
    return {"context": "\n\n".join(f"[{i}] {p.text}" for i, p in enumerate(ctx.passages, 1)),
            "tokens": ctx.tokens, "stop_reason": ctx.trace.stop_reason,
            "citations": [{"label": i, "id": p.id, "source": p.source, "title": p.title,
                           "score": round(p.score, 4), "spans": p.spans} for i, p in enumerate(ctx.passages, 1)]}
