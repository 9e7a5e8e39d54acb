"""The operator's settings are a ceiling: no override object lifts a budget, and no empty key opens the
service. Unit level (the Service's resolution) with a property test, then over real HTTP."""
from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from fastapi import HTTPException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag import Settings
from rag.api.app import create_app
from rag.api.service import Service

OPERATOR = Settings(store_path="/nonexistent/never-opened", answerer="extractive")
SERVICE = Service(OPERATOR, pipeline=object())  # type: ignore[arg-type]  # resolution never touches it

JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False)
                    | st.text(max_size=12), lambda inner: st.lists(inner, max_size=3), max_leaves=5)
INTERESTING = st.one_of(JSON, st.sampled_from(["100000", "1e9", None, 10**9, 0, -1, 1.5, "openai", "llm",
                                               "local", "none", True, [1, 2, 3]]))


def _resolve(overrides: dict) -> Settings | list[dict]:
    try:
        return SERVICE.settings_for(overrides)
    except HTTPException as e:
        assert e.status_code == 422
        return e.detail  # type: ignore[return-value]


def _not_costlier(got: Settings, operator: Settings) -> None:
    """Every cost setting of ``got`` within the operator's value (or the operator's explicit raise limit)."""
    from rag.api.ceilings import _EFFORT, cost_direction
    from rag.settings import FIELDS

    for key in FIELDS:
        direction, value, mine = cost_direction(key), got.value(key), operator.value(key)
        if direction == "up":
            limit = None if mine is None else max(mine, operator.api.api_override_limits.get(key, mine))
            assert limit is None or (value is None and key == "hop_budget") or (
                value is not None and value <= limit), (key, value, limit)
        elif direction == "down":
            assert mine is None or (value is not None and value >= mine), (key, value, mine)
        elif direction == "effort":
            assert _EFFORT[value] <= _EFFORT[mine], (key, value, mine)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(OPERATOR.api.api_overrides + ["llm_base_url", "store_path"]), INTERESTING,
                       max_size=6))
def test_any_override_is_within_the_ceilings_or_refused_naming_the_field(overrides: dict) -> None:
    got = _resolve(overrides)
    if isinstance(got, list):
        assert got and all(e["loc"][:2] == ["body", "overrides"] and e["loc"][2] in overrides for e in got)
        return
    _not_costlier(got, OPERATOR)
    assert got.answer.answerer == "extractive" and got.rerank.reranker != "llm"
    for key, value in overrides.items():  # nothing was coerced: what was accepted is what was sent
        assert got.value(key) == (tuple(value) if isinstance(value, list) else value)


EFFORTS = st.sampled_from([None, "minimal", "low", "medium", "high"])
OPERATORS = st.fixed_dictionaries({
    "max_completion_tokens": st.integers(1, 40_000), "reasoning_effort": EFFORTS,
    "token_budget": st.none() | st.integers(1, 5000), "hop_budget": st.none() | st.integers(1, 5000),
    "max_passages": st.none() | st.integers(1, 50), "candidate_depth": st.integers(1, 300),
    "abstain_below": st.none() | st.floats(0, 1), "abstain_learned_above": st.none() | st.floats(0, 1),
    "api_override_limits": st.dictionaries(st.sampled_from(["token_budget", "candidate_depth"]),
                                           st.floats(1, 10_000), max_size=2),
})
REQUESTS = st.fixed_dictionaries({}, optional={
    "max_completion_tokens": st.integers(1, 60_000), "reasoning_effort": EFFORTS,
    "token_budget": st.none() | st.integers(1, 20_000), "hop_budget": st.none() | st.integers(1, 20_000),
    "max_passages": st.none() | st.integers(1, 60), "candidate_depth": st.integers(1, 1000),
    "abstain_below": st.none() | st.floats(0, 1), "abstain_learned_above": st.none() | st.floats(0, 1),
})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATORS, REQUESTS)
def test_no_request_spends_more_than_a_random_operator_allows(operator: dict, request: dict) -> None:
    """Against any operator configuration: a request may lower cost, never raise it above the operator's own
    values (max_completion_tokens, reasoning_effort, budgets, how readily the service abstains)."""
    mine = OPERATOR.replace(**operator)
    svc = Service(mine, pipeline=object())  # type: ignore[arg-type]
    try:
        got = svc.settings_for(request)
    except HTTPException as e:
        assert e.status_code == 422 and all(err["loc"][2] in request for err in e.detail)  # type: ignore[index]
        return
    _not_costlier(got, mine)
    if not request:
        assert got == mine


def test_the_hostile_request_of_the_probe_is_refused() -> None:
    """The operator allows 500 output tokens at low effort; the request asked for 25000 at high effort
    with abstention off, and was once sent upstream as asked."""
    mine = Service(OPERATOR.replace(max_completion_tokens=500, reasoning_effort="low"),
                   pipeline=object())  # type: ignore[arg-type]
    with pytest.raises(HTTPException) as e:
        mine.settings_for({"max_completion_tokens": 25000, "reasoning_effort": "high", "abstain_below": None})
    assert {err["loc"][2] for err in e.value.detail} == {  # type: ignore[index]
        "max_completion_tokens", "reasoning_effort", "abstain_below"}
    cheaper = mine.settings_for({"max_completion_tokens": 200, "reasoning_effort": "minimal", "abstain_below": 0.5})
    assert (cheaper.answer.max_completion_tokens, cheaper.answer.reasoning_effort,
            cheaper.abstain.abstain_below) == (200, "minimal", 0.5)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"token_budget": None}, "token_budget"),
    ({"max_passages": None}, "max_passages"),
    ({"token_budget": "100000"}, "token_budget"),
    ({"token_budget": 351}, "token_budget"),
    ({"max_completion_tokens": 25_001}, "max_completion_tokens"),
    ({"reasoning_effort": "high"}, "reasoning_effort"),
    ({"abstain_below": None}, "abstain_below"),
    ({"abstain_learned_above": 0.99}, "abstain_learned_above"),
    ({"hop_budget": 100_000}, "hop_budget"),
    ({"candidate_depth": "50"}, "candidate_depth"),
    ({"answerer": "openai"}, "answerer"),
    ({"reranker": "llm"}, "reranker"),
])
def test_known_ways_around_the_ceilings_are_refused(overrides: dict, field: str) -> None:
    got = _resolve({**overrides, "min_score": 0, "sentence_prune": False})
    assert isinstance(got, list) and [e["loc"][2] for e in got] == [field]


def test_narrowing_overrides_pass() -> None:
    got = _resolve({"token_budget": 60, "hop_budget": None, "answerer": "extractive", "reranker": "none"})
    assert isinstance(got, Settings) and got.prune.token_budget == 60 and got.hop.hop_budget is None


def test_backend_switch_needs_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-present-in-the-environment")
    local = Service(Settings(answerer="local"), pipeline=object())  # type: ignore[arg-type]
    with pytest.raises(HTTPException) as e:
        local.settings_for({"answerer": "openai"})
    assert e.value.detail[0]["loc"] == ["body", "overrides", "answerer"]  # type: ignore[index]
    assert local.settings_for({"answerer": "extractive"}).answer.answerer == "extractive"
    opened = Service(Settings(answerer="local", api_allow_backend_switch=True), pipeline=object())  # type: ignore[arg-type]
    assert opened.settings_for({"answerer": "openai"}).answer.answerer == "openai"


@pytest.mark.parametrize("key", ["", " ", "short-key"])
def test_short_or_empty_keys_refuse_to_start(key: str) -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        create_app(Settings(api_key=key))
    with pytest.raises(ValueError, match="RAG_API_ADMIN_KEY"):
        create_app(Settings(api_key="k" * 16, api_admin_key=key))


@pytest.mark.integration
def test_empty_key_in_the_environment_stops_rag_serve(tmp_path) -> None:
    env = {"RAG_API_KEY": "", "PATH": "/usr/bin:/bin", "RAG_CONFIG": str(tmp_path / "none.toml")}
    out = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--host", "0.0.0.0", "--store",
                          str(tmp_path / "s")], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2 and "RAG_API_KEY must be at least 16" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.integration
def test_empty_bearer_is_refused_over_http(tmp_path, embedder) -> None:
    from rag import Pipeline
    from tests.conftest import CORPUS, free_port, wait_http
    from tests.fake_openai import ServerThread

    key = "a-proper-key-0123456789"
    s = Settings(store_path=tmp_path / "store", answerer="extractive", api_key=key)
    pipeline = Pipeline(s, embedder=embedder)
    pipeline.ingest([CORPUS / "output-limits.txt"])
    with ServerThread(free_port(), create_app(s, pipeline=pipeline)) as server:
        wait_http(f"{server.root}/readyz")
        url, body = f"{server.root}/v1/retrieve", {"question": "What is the output ceiling of o1-mini?"}
        # (a trailing space is stripped by HTTP itself: "Bearer " arrives as "Bearer")
        for header in ({}, {"Authorization": "Bearer"}, {"Authorization": ""}, {"Authorization": "Bearer x"}):
            assert httpx.post(url, json=body, headers=header, timeout=30).status_code == 401, header
        assert httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code == 200
        lifted = httpx.post(url, json={**body, "overrides": {"token_budget": None, "max_passages": None}},
                            headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert lifted.status_code == 422
        assert {tuple(e["loc"]) for e in lifted.json()["detail"]} == {
            ("body", "overrides", "token_budget"), ("body", "overrides", "max_passages")}
