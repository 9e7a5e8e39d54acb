"""`rag mcp` over a real stdio subprocess, driven by the official MCP SDK's own client."""
from __future__ import annotations

import asyncio
import json
import sys

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from rag import Pipeline, Settings
from rag.types import Document

pytestmark = pytest.mark.integration


async def _session(store, *extra: str, calls: list[tuple[str, dict]]) -> tuple[list[str], list]:  # noqa: ANN001
    params = StdioServerParameters(command=sys.executable, args=["-m", "rag.cli", "mcp", "--store", str(store),
                                                                 *extra])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = [t.name for t in (await session.list_tools()).tools]
        results = [await session.call_tool(name, args) for name, args in calls]
    return names, results


def _payload(result) -> dict:  # noqa: ANN001
    assert not result.is_error, result
    return json.loads(result.content[0].text)


def test_mcp_tools_over_stdio(tmp_path, embedder) -> None:
    store = tmp_path / "store"
    Pipeline(Settings(store_path=store), embedder=embedder).ingest_documents([
        Document(id="q", source="notes/quokka.md", title="Quokkas",
                 text="Quokkas live on Rottnest Island. They eat leaves and grasses."),
        Document(id="b", source="notes/bread.md", title="Bread", text="Sourdough rises with wild yeast.")])
    names, (ctx, ans) = asyncio.run(_session(store, calls=[("retrieve", {"question": "What do quokkas eat?"}),
                                                           ("answer", {"question": "What do quokkas eat?"})]))
    assert sorted(names) == ["answer", "retrieve"]  # ingest is off unless the operator allows it
    got = _payload(ctx)
    assert "[1] " in got["context"] and "leaves" in got["context"] and "Sourdough" not in got["context"]
    assert got["tokens"] > 0 and got["citations"][0]["source"] == "notes/quokka.md"
    answered = _payload(ans)
    assert "Quokkas" in answered["answer"] and answered["citations"] and answered["abstained"] is False

    doc = {"id": "n", "text": "The Nile flows north through eleven countries."}
    names, (added, found) = asyncio.run(_session(store, "--allow-ingest", calls=[
        ("ingest", {"documents": [doc]}), ("retrieve", {"question": "Which way does the Nile flow?"})]))
    assert "ingest" in names and _payload(added)["added"] == 1
    assert "flows north" in _payload(found)["context"]


def test_mcp_tools_have_the_http_limits_and_say_why(tmp_path) -> None:
    """A 2M-character question and 3,000 documents were accepted; a document without `id` failed as
    "Error executing tool ingest" with no reason. Every parameter is described, required ones declared."""
    import os

    async def run() -> tuple[list, list]:
        params = StdioServerParameters(command=sys.executable, args=[
            "-m", "rag.cli", "mcp", "--store", str(tmp_path / "store"), "--allow-ingest",
            "--set", "api_max_question_chars=100", "--set", "api_max_documents=2"], env=dict(os.environ))
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            results = [await session.call_tool(name, args) for name, args in [
                ("retrieve", {"question": "x" * 101}),
                ("ingest", {"documents": [{"text": "no id here"}]}),
                ("ingest", {"documents": [{"id": str(i), "text": "t"} for i in range(3)]})]]
        return tools, results

    tools, (long_q, no_id, too_many) = asyncio.run(run())
    by_name = {t.name: t.input_schema for t in tools}
    assert by_name["ingest"]["required"] == ["documents"] and by_name["retrieve"]["required"] == ["question"]
    assert by_name["retrieve"]["properties"]["question"]["description"]
    assert by_name["ingest"]["properties"]["documents"]["description"]
    texts = [r.content[0].text for r in (long_q, no_id, too_many)]
    assert all(r.is_error for r in (long_q, no_id, too_many)), texts
    assert "100" in texts[0] and "id" in texts[1] and "2" in texts[2]
