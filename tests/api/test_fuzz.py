"""Schemathesis against the service's own OpenAPI schema, over real HTTP: no input may yield a 5xx."""
from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from rag import Pipeline, Settings
from rag.api.app import create_app
from tests.conftest import CORPUS, free_port, wait_http
from tests.fake_openai import API_KEY, ServerThread

pytestmark = pytest.mark.integration
TOKEN = "fuzz-token-0123456789"


@pytest.fixture(scope="module")
def service_schema(tmp_path_factory: pytest.TempPathFactory, embedder, fake_openai):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "docs").mkdir()
    for name in ["output-limits.txt", "sourdough.md"]:
        shutil.copy(CORPUS / name, root / "docs" / name)
    s = Settings(store_path=root / "store", answerer="openai", llm_base_url=fake_openai.url, llm_api_key=API_KEY,
                 llm_model="gpt-5-mini", llm_max_retries=0, api_key=TOKEN, api_max_documents=5,
                 api_max_body_bytes=50_000)
    pipeline = Pipeline(s, embedder=embedder)
    pipeline.ingest([root / "docs"])
    with ServerThread(free_port(), create_app(s, pipeline=pipeline)) as server:
        wait_http(f"{server.root}/readyz")
        yield schemathesis.openapi.from_url(f"{server.root}/openapi.json")


def test_no_input_yields_a_server_error(service_schema) -> None:
    # Hypothesis drives schemathesis's strategies directly: its pytest plugin does not load under pytest 9.
    operations = [result.ok() for result in service_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/answer", "/v1/retrieve", "/v1/chat/completions", "/v1/ingest"}
    seen: dict[str, set[int]] = {}
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
            assert response.status_code < 500, (
                f"{case.method} {case.path} -> {response.status_code}: {response.text[:500]}")
            assert "Traceback" not in response.text

        check()
    # the fuzzer reached the handlers, not only the validator
    assert any(code == 200 for codes in seen.values() for code in codes), seen
