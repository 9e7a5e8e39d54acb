"""The stage groups and the roles their settings carry (rag/stage_settings.py): the API's ceilings and the
per-call checks read these tags, so a wrong tag would let a request change what it must not."""
from __future__ import annotations

from typing import get_args

from pydantic import SecretStr

from rag.settings import BUILT_WITH, CLIENT_FIELDS, FIELDS, GROUPS, PER_REQUEST_FIELDS, Settings
from rag.stage_settings import REMOVED


def _cost(name: str) -> str | None:
    extra = FIELDS[name].json_schema_extra
    return extra.get("cost") if isinstance(extra, dict) else None  # type: ignore[return-value]


def test_what_a_pipeline_is_built_with_and_how_it_reaches_a_model_never_change_per_request() -> None:
    assert not PER_REQUEST_FIELDS & BUILT_WITH
    assert not PER_REQUEST_FIELDS & CLIENT_FIELDS
    secrets = {n for n, f in FIELDS.items() if SecretStr in (f.annotation, *get_args(f.annotation))}
    assert secrets and not secrets & PER_REQUEST_FIELDS
    assert not {n for n in PER_REQUEST_FIELDS if n.endswith(("_url", "_path", "_host", "_port"))}


def test_every_setting_that_moves_cost_says_which_way_and_may_be_requested() -> None:
    costly = {n for n in FIELDS if _cost(n) is not None}
    assert {"token_budget", "max_completion_tokens", "reasoning_effort", "abstain_below"} <= costly
    assert costly <= PER_REQUEST_FIELDS  # a direction only matters for what a request may override
    assert {_cost(n) for n in costly} <= {"up", "down", "effort"}


def test_every_group_says_what_it_configures_and_removed_names_stay_removed() -> None:
    assert all(model.__doc__ and model.__doc__.strip() for model in GROUPS.values())
    assert not set(REMOVED) & set(FIELDS) and all(why.strip() for why in REMOVED.values())


def test_retrievals_in_flight_default_to_the_machines_cores_and_the_operator_may_set_them(monkeypatch) -> None:
    """More retrievals at once than cores only queue for Python's lock (throughput fell from 2 to 4 clients)."""
    import os

    assert Settings().api.api_max_concurrent_retrievals == len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})  # a container's cpuset of one core
    assert Settings().api.api_max_concurrent_retrievals == 1
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS has no affinity call: the CPU count, 1 when unknown
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert Settings().api.api_max_concurrent_retrievals == 1
    monkeypatch.setenv("RAG_API_MAX_CONCURRENT_RETRIEVALS", "6")
    assert Settings().api.api_max_concurrent_retrievals == 6
