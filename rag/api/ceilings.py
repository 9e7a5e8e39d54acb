"""The operator's settings are a ceiling: which overrides a request may make, and how far (read from the
settings' field metadata, so a new cost setting is covered by declaring its direction)."""
from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any, cast

from pydantic import TypeAdapter, ValidationError

from rag.answer.factory import resolve_answerer
from rag.settings import FIELDS, Settings

_OFF_WHEN_NONE = {"hop_budget"}  # None switches the multi-hop budget off: cheaper, not unlimited


_EFFORT = {"minimal": 0, "low": 1, "medium": 2, "high": 3, None: 2}  # None: the model's default, medium


def cost_direction(key: str) -> str | None:
    """How a setting raises cost, from its field metadata: "up" (a larger value or None spends more),
    "down" (a smaller value or None spends more: abstention thresholds), "effort", or None (no cost)."""
    extra = FIELDS[key].json_schema_extra
    return extra.get("cost") if isinstance(extra, dict) else None  # type: ignore[return-value]


def costlier(key: str, value: Any, operator: Settings) -> str | None:
    """Why ``value`` for ``key`` would spend more than the operator allows (None: it does not)."""
    direction, mine = cost_direction(key), operator.value(key)
    if direction == "effort":
        if _EFFORT[value] > _EFFORT[mine]:
            return f"{key} may be at most {mine or 'the model default (medium)'!r} (the operator's value)"
        return None
    if direction == "up":
        # the operator's value, or the higher limit the operator set in api_override_limits; None: unlimited
        limit = None if mine is None else max(mine, operator.api.api_override_limits.get(key, mine))
        if value is None and key in _OFF_WHEN_NONE:
            return None
        if limit is not None and (value is None or value > limit):
            return (f"{key} may be at most {limit:g} (null means unlimited, which is over it); "
                    f"the operator raises it with api_override_limits")
        return None
    if direction == "down" and mine is not None and (value is None or value < mine):
        return (f"{key} may not be below the operator's {mine:g} nor null: how readily the service abstains "
                "is the operator's choice")
    return None


def ceiling_errors(operator: Settings, resolved: Settings, requested: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, why) for each override that would spend more than the operator allowed."""
    out = [(key, why) for key in requested if key in FIELDS
           and (why := costlier(key, resolved.value(key), operator)) is not None]
    if operator.api.api_allow_backend_switch:
        return out
    if "answerer" in requested:
        mine, theirs = resolve_answerer(operator), resolve_answerer(resolved)
        if theirs not in (mine, "extractive"):
            out.append(("answerer", f"this service answers with {mine!r}; a request may keep it or choose "
                                    "'extractive' (the operator enables others with api_allow_backend_switch)"))
    if "reranker" in requested and resolved.rerank.reranker == "llm" and operator.rerank.reranker != "llm":
        out.append(("reranker", "the llm reranker calls a model: not enabled on this service "
                                "(the operator enables it with api_allow_backend_switch)"))
    return out


@cache
def _adapter(key: str) -> TypeAdapter:
    info = FIELDS[key]
    kind = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation  # type: ignore[valid-type]
    return TypeAdapter(cast(Any, kind))


def strict_error(key: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``key`` as JSON, with no coercion (None: it is valid)."""
    try:
        _adapter(key).validate_json(json.dumps(value), strict=True)
    except ValidationError as e:
        return "; ".join(err["msg"] for err in e.errors())
    return None
