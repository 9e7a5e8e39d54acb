"""A local OpenAI-compatible server for the tests: the real wire format, the real refusals.

It checks each request the way OpenAI does for each model family (roles, parameter names, sampling),
answers with usage that includes reasoning and cached tokens, streams server-sent events with a final
usage chunk, returns ``reasoning_content`` or ``<think>`` blocks for open reasoning models, and plays a
script of faults on demand (429 with Retry-After, 500, slow replies, ``finish_reason="length"``).

Every request is recorded, so tests assert on exactly what the client sent.
"""
from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from rag.tokens import encoding

API_KEY = "sk-test-0123456789abcdef"
ENC = encoding("o200k_base")  # tiktoken, its BPE file seeded offline

# family -> (roles accepted for instructions, token parameter, sampling allowed, reasoning_effort allowed,
#            how reasoning comes back: hidden | reasoning_content | think)
FAMILIES: dict[str, tuple[set[str], str, bool, bool, str]] = {
    "o1-mini": ({"user", "assistant"}, "max_completion_tokens", False, False, "hidden"),
    "o1-preview": ({"user", "assistant"}, "max_completion_tokens", False, False, "hidden"),
    "o3-mini": ({"developer", "system", "user", "assistant"}, "max_completion_tokens", False, True, "hidden"),
    "gpt-5-mini": ({"developer", "system", "user", "assistant"}, "max_completion_tokens", False, True, "hidden"),
    "gpt-4o-mini": ({"system", "user", "assistant"}, "max_tokens", True, False, "none"),
    "deepseek-reasoner": ({"system", "user", "assistant"}, "max_tokens", True, False, "reasoning_content"),
    "deepseek-r1-distill-qwen-7b": ({"system", "user", "assistant"}, "max_tokens", True, False, "think"),
}

AZURE_DEPLOYMENTS = {"my-o3-deployment": "o3-mini"}  # Azure names deployments, not models

# Embedding models: name -> (longest input in cl100k tokens, whether ``dimensions`` is accepted). Vectors come
# from the real all-MiniLM-L6-v2 (as a TEI server of that model would give them); the text-embedding-3 stand-in
# shortens them Matryoshka-style when asked for fewer dimensions.
EMBEDDING_MODELS: dict[str, tuple[int, bool]] = {
    "sentence-transformers/all-MiniLM-L6-v2": (512, False),
    "text-embedding-3-small": (8191, True),
}
CL100K = encoding("cl100k_base")
_ENCODER: list[Any] = []


def _minilm() -> Any:
    if not _ENCODER:
        from rag.index.embedder import Embedder

        _ENCODER.append(Embedder("sentence-transformers/all-MiniLM-L6-v2"))
    return _ENCODER[0]


def _error(status: int, message: str, *, type_: str = "invalid_request_error", code: str | None = None,
           param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": param, "code": code}},
                        status_code=status, headers=headers)


def create_app() -> FastAPI:
    app = FastAPI()
    app.state.requests = []
    app.state.script = []

    @app.post("/_script")
    async def script(request: Request) -> dict[str, Any]:
        app.state.script = list(await request.json())
        app.state.requests = []
        return {"ok": True}

    @app.get("/_requests")
    async def requests() -> list[dict[str, Any]]:
        return app.state.requests

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "test"} for m in FAMILIES]}

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Any:
        body = await request.json()
        app.state.requests.append({"headers": {k.lower(): v for k, v in request.headers.items()},
                                   "body": body, "path": request.url.path, "at": time.time()})
        action = app.state.script.pop(0) if app.state.script else {}
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        if action.get("status") == 429:
            return _error(429, "Rate limit reached for requests per min.", type_="requests", code="rate_limit_exceeded",
                          headers={"retry-after": str(action.get("retry_after", "0"))})
        if action.get("status"):
            return _error(action["status"], "The server had an error while processing your request.",
                          type_="server_error")
        return _embed(body)

    @app.post("/openai/deployments/{deployment}/chat/completions")  # Azure OpenAI's route
    async def azure_chat(deployment: str, request: Request) -> Any:
        return await chat(request, deployment=deployment)

    @app.post("/v1/chat/completions")
    async def chat(request: Request, deployment: str | None = None) -> Any:
        body = await request.json()
        app.state.requests.append({"headers": {k.lower(): v for k, v in request.headers.items()},
                                   "body": body, "path": request.url.path, "query": str(request.url.query),
                                   "at": time.time()})
        action = app.state.script.pop(0) if app.state.script else {}
        if action.get("delay"):
            await asyncio.sleep(action["delay"])
        if deployment is not None:  # Azure: key in the api-key header, model named by the deployment
            authorised = request.headers.get("api-key") == API_KEY and "api-version" in request.query_params
            body = {**body, "model": AZURE_DEPLOYMENTS.get(deployment, deployment)}
        else:
            authorised = request.headers.get("authorization") == f"Bearer {API_KEY}"
        if not authorised:
            return _error(401, "Incorrect API key provided: sk-te***cdef. You can find your API key at "
                               "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
        if action.get("status") == 429:
            return _error(429, "Rate limit reached for requests per min.", type_="requests", code="rate_limit_exceeded",
                          headers={"retry-after": str(action.get("retry_after", "0"))})
        if action.get("status"):
            return _error(action["status"], "The server had an error while processing your request.",
                          type_="server_error")
        model = body.get("model")
        family = FAMILIES.get(model)
        if family is None:
            return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                          code="model_not_found")
        refusal = _refuse(body, family)
        if refusal is not None:
            return refusal
        return _reply(body, family, action)

    return app


def _embed(body: dict[str, Any]) -> Any:
    model = body.get("model")
    if model not in EMBEDDING_MODELS:
        return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                      code="model_not_found")
    longest, shortens = EMBEDDING_MODELS[model]
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not texts or len(texts) > 2048:
        return _error(400, "'$.input' is invalid: an array of 1 to 2048 strings is expected.", param="input")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text:
            return _error(400, f"'$.input[{i}]' is invalid: a non-empty string is expected.", param="input")
        if len(CL100K.encode(text, disallowed_special=())) > longest:
            return _error(400, f"This model's maximum context length is {longest} tokens; input {i} is longer.",
                          param="input")
    dims = body.get("dimensions")
    if dims is not None and not shortens:
        return _error(400, "This model does not support specifying dimensions.", param="dimensions")
    vectors = _minilm().encode(texts)
    if dims:
        vectors = vectors[:, :dims]
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    tokens = sum(len(CL100K.encode(t, disallowed_special=())) for t in texts)
    return {"object": "list", "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            "data": [{"object": "embedding", "index": i, "embedding": [round(float(x), 7) for x in v]}
                     for i, v in enumerate(vectors)]}


def _refuse(body: dict[str, Any], family: tuple[set[str], str, bool, bool, str]) -> JSONResponse | None:
    roles, token_param, sampling, effort, _ = family
    for i, m in enumerate(body.get("messages", [])):
        if m.get("role") not in roles:
            return _error(400, f"Unsupported value: 'messages[{i}].role' does not support '{m.get('role')}' with "
                               "this model.", code="unsupported_value", param=f"messages[{i}].role")
    other = "max_tokens" if token_param == "max_completion_tokens" else None
    if other and other in body:
        return _error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                           "'max_completion_tokens' instead.", code="unsupported_parameter", param="max_tokens")
    for p in ("temperature", "top_p"):
        if p in body and not sampling:
            return _error(400, f"Unsupported value: '{p}' does not support {body[p]} with this model. Only the "
                               "default (1) value is supported.", code="unsupported_value", param=p)
    if "reasoning_effort" in body and not effort:
        return _error(400, "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                      code="unsupported_parameter", param="reasoning_effort")
    return None


def _grades(text: str) -> str:
    """A deterministic relevance judge: grade = shared content words with the question, at most 3."""
    question = set(re.findall(r"[a-z0-9_]{4,}", text.rsplit("Question:", 1)[-1].lower()))
    lines = []
    for num, passage in re.findall(r'<passage id="(\d+)"[^>]*>(.*?)</passage>', text, re.DOTALL):
        shared = question & set(re.findall(r"[a-z0-9_]{4,}", passage.lower()))
        lines.append(f"{num}: {min(3, len(shared))}")
    return "\n".join(lines)


def _answer_text(body: dict[str, Any]) -> str:
    """A deterministic answer: the first words of passage 1 of the context, citing it."""
    text = body["messages"][-1]["content"]
    if any("Grade how well each passage" in m.get("content", "") for m in body["messages"]):
        return _grades(text)
    start = text.find('<passage id="1"')
    if start < 0:
        return "The context does not contain the answer."
    passage = text[text.index(">", start) + 1:].split("</passage>")[0]
    return " ".join(passage.split()[:12]) + " [1]"


def _reply(body: dict[str, Any], family: tuple[set[str], str, bool, bool, str], action: dict[str, Any]) -> Any:
    _, token_param, _, _, style = family
    budget = int(body.get(token_param) or 4096)
    prompt = sum(len(ENC.encode(m.get("content", ""))) for m in body["messages"])
    answer = _answer_text(body)
    thinking = "Let me look at the passages. Passage 1 says what is asked." if style != "none" else ""
    reasoning_tokens = len(ENC.encode(thinking)) + (prompt // 2 if style == "hidden" else 0)
    finish = action.get("finish", "stop")
    if finish == "length":
        answer, reasoning_tokens = "", budget
    answer_tokens = len(ENC.encode(answer))
    content = f"<think>{thinking}</think>\n{answer}" if style == "think" else answer
    usage: dict[str, Any] = {
        "prompt_tokens": prompt, "completion_tokens": reasoning_tokens + answer_tokens,
        "total_tokens": prompt + reasoning_tokens + answer_tokens,
        "prompt_tokens_details": {"cached_tokens": int(action.get("cached", 0)), "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens if style == "hidden" else 0,
                                      "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0}}
    if style in ("think", "reasoning_content"):  # open models: reasoning is text, counted by the client
        usage["completion_tokens_details"] = None
    base = {"id": "chatcmpl-test", "created": int(time.time()), "model": body["model"],
            "system_fingerprint": "fp_test"}
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if style == "reasoning_content":
            message["reasoning_content"] = thinking
        return {**base, "object": "chat.completion", "usage": usage,
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}]}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        return "data: " + json.dumps({**base, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}) + "\n\n"

    async def events() -> Any:
        yield chunk({"role": "assistant", "content": ""})
        if style == "reasoning_content":
            for word in thinking.split(" "):
                yield chunk({"reasoning_content": word + " "})
        pieces = [content[i:i + 7] for i in range(0, len(content), 7)]  # splits tags across chunks too
        for piece in pieces:
            await asyncio.sleep(0.005)
            yield chunk({"content": piece})
        yield chunk({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            yield "data: " + json.dumps({**base, "object": "chat.completion.chunk", "choices": [],
                                         "usage": usage}) + "\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


class ServerThread:
    """uvicorn on a free loopback port, in a thread of the test process."""

    def __init__(self, port: int, app: Any = None) -> None:
        self.port = port
        self.root = f"http://127.0.0.1:{port}"
        self.url = f"{self.root}/v1"
        config = uvicorn.Config(app or create_app(), host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
