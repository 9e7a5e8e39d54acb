"""One typed Settings object, a group per stage: ``rag.toml`` < ``RAG_*`` environment < explicit arguments.

Each setting sits in the group of the stage it configures (``prune.token_budget``) and keeps a flat name
of its own (``token_budget``), unique across groups, which arguments, ``replace``, the environment
(``RAG_TOKEN_BUDGET``, or ``RAG_PRUNE__TOKEN_BUDGET``), ``rag.toml`` (a top-level key, or a ``[prune]``
table) and a request's overrides all accept.

Example:
    >>> from rag import Settings
    >>> s = Settings(store_path="/tmp/store", chunk_size=128)
    >>> s.ingest.chunk_size, s.value("chunk_size")
    (128, 128)
"""
from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rag.errors import InputError
from rag.stage_settings import (
    ANSWER,
    BUILT,
    CLIENT,
    PER_REQUEST,
    REMOVED,
    AbstainSettings,
    AnswerSettings,
    ApiSettings,
    CandidateSettings,
    HopSettings,
    IngestSettings,
    PruneSettings,
    RerankSettings,
    StageGroup,
    StoreSettings,
    Tag,
)


def config_file() -> Path:
    """The TOML file settings are read from: ``RAG_CONFIG`` or ``./rag.toml``."""
    return Path(os.environ.get("RAG_CONFIG", "rag.toml"))


class Settings(BaseSettings):
    """Every knob of the pipeline, in one group per stage. An experiment is just a different Settings.

    Each setting also has a flat name of its own (``token_budget`` is ``prune.token_budget``): arguments,
    ``replace``, ``RAG_TOKEN_BUDGET``, top-level keys of ``rag.toml`` and a request's overrides all take it.
    """

    model_config = SettingsConfigDict(extra="forbid", validate_assignment=True)

    language: Annotated[str, BUILT] = Field(
        "en", description="the documents' language (rag.language): 'en' turns on the English "
        "rules (stop list, stemmer, abbreviations, question words, capitalised names, the "
        "hop's lead-subject and alias rules); another ISO code ('de', 'fr', 'es', ...) uses "
        "its Snowball stemmer and no English rule; 'neutral': lower-cased words only")
    tokenizer: Annotated[str, ANSWER] = Field("o200k_base", description="tiktoken encoding for every token count")
    store: StoreSettings = Field(default_factory=StoreSettings, description=StoreSettings.__doc__)
    ingest: IngestSettings = Field(default_factory=IngestSettings, description=IngestSettings.__doc__)
    candidates: CandidateSettings = Field(default_factory=CandidateSettings, description=CandidateSettings.__doc__)
    rerank: RerankSettings = Field(default_factory=RerankSettings, description=RerankSettings.__doc__)
    hop: HopSettings = Field(default_factory=HopSettings, description=HopSettings.__doc__)
    prune: PruneSettings = Field(default_factory=PruneSettings, description=PruneSettings.__doc__)
    abstain: AbstainSettings = Field(default_factory=AbstainSettings, description=AbstainSettings.__doc__)
    answer: AnswerSettings = Field(default_factory=AnswerSettings, description=AnswerSettings.__doc__)
    api: ApiSettings = Field(default_factory=ApiSettings, description=ApiSettings.__doc__)

    @field_validator("language")
    @classmethod
    def _known_language(cls, v: str) -> str:
        from rag.language import language

        language(v)  # raises ValueError naming the known codes
        return v

    @model_validator(mode="before")
    @classmethod
    def _nested(cls, data: Any) -> Any:
        return nest(data) if isinstance(data, dict) else data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: explicit arguments, then the environment, then the TOML file. Each source nests its
        # flat names first, so a flat key of a weaker source cannot override a nested one of a stronger.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return (_Nesting(settings_cls, init_settings), _Environment(settings_cls), _Nesting(settings_cls, toml))

    def value(self, name: str) -> Any:
        """A setting by its flat name (``s.value("token_budget")`` is ``s.prune.token_budget``)."""
        group = GROUP_OF[name]
        return getattr(getattr(self, group) if group else self, name)

    def flat(self, names: Iterable[str] | None = None, *, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """Settings by their flat names (all, or ``names``); ``mode="json"``: JSON-able values, secrets as
        stars, as pydantic dumps them."""
        dump = self.model_dump(mode=mode)
        return {name: dump[GROUP_OF[name]][name] if GROUP_OF[name] else dump[name]
                for name in (FIELDS if names is None else names)}

    def replace(self, **overrides: Any) -> Settings:
        """A validated copy with some settings (flat names) changed (the environment is not read again)."""
        unknown = set(overrides) - set(FIELDS)
        if unknown:
            raise InputError("; ".join(f"unknown setting {k!r}{nearest_hint(k)}" for k in sorted(unknown)))
        data = self.model_dump()
        for name, value in overrides.items():
            _put(data, name, value)
        return type(self).model_validate(data)

    def public_dict(self) -> dict[str, Any]:
        """Settings as JSON-able values by group, secrets masked."""
        out = self.model_dump(mode="json")
        for name in FIELDS:
            if isinstance(self.value(name), SecretStr):
                _put(out, name, "***")
        return out


GROUPS: dict[str, type[StageGroup]] = {
    name: info.annotation for name, info in Settings.model_fields.items()  # type: ignore[misc]
    if isinstance(info.annotation, type) and issubclass(info.annotation, StageGroup)}
# Every setting by its flat name: the group it sits in ("" for the two at the top) and its declaration.
GROUP_OF: dict[str, str] = {
    **{name: "" for name in Settings.model_fields if name not in GROUPS},
    **{name: group for group, model in GROUPS.items() for name in model.model_fields}}
FIELDS: dict[str, FieldInfo] = {
    name: (GROUPS[group].model_fields if group else Settings.model_fields)[name] for name, group in GROUP_OF.items()}
# Names other tools give a setting in the environment, beside RAG_<NAME> and RAG_<GROUP>__<NAME>.
ENV_ALIASES = {"llm_api_key": ("OPENAI_API_KEY",)}


def _put(data: dict[str, Any], name: str, value: Any) -> None:
    group = GROUP_OF[name]
    if not group:
        data[name] = value
        return
    inner = data.get(group)
    if isinstance(inner, BaseModel):
        inner = inner.model_dump()
    data[group] = {**(inner if isinstance(inner, dict) else {}), name: value}


def _is_group_value(key: str, value: Any) -> bool:
    # "hop" names both a group and the switch inside it: a table is the group, a value the switch
    return key in GROUPS and isinstance(value, (dict, BaseModel))


def nest(data: dict[str, Any]) -> dict[str, Any]:
    """Flat names moved into their groups (unknown names stay where they are, for validation to name)."""
    out = {k: v for k, v in data.items() if _is_group_value(k, v) or k not in GROUP_OF}
    for key, value in data.items():
        if not _is_group_value(key, value) and key in GROUP_OF:
            _put(out, key, value)
    return out


class _Nesting(PydanticBaseSettingsSource):
    """Another source's values with their flat names nested."""

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.inner = inner

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the inner source whole

    def __call__(self) -> dict[str, Any]:
        return nest(self.inner())


class _Environment(PydanticBaseSettingsSource):
    """``RAG_<NAME>`` (the flat name: ``RAG_TOKEN_BUDGET``) or ``RAG_<GROUP>__<NAME>``
    (``RAG_PRUNE__TOKEN_BUDGET``), case-insensitive; lists, tables and tuples as JSON."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the environment once

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in os.environ.items()}
        out: dict[str, Any] = {}
        for name, group in GROUP_OF.items():
            keys = [f"RAG_{name.upper()}", *([f"RAG_{group.upper()}__{name.upper()}"] if group else []),
                    *ENV_ALIASES.get(name, ())]
            found = next((env[k] for k in keys if k in env), None)
            if found is not None:
                _put(out, name, _decoded(found, FIELDS[name]))
        # a variable of a removed setting (RAG_<NAME> or RAG_<GROUP>__<NAME>) is refused with its reason, not
        # ignored: it no longer does anything
        for key, raw in env.items():
            name = key.removeprefix("RAG_").rsplit("__", 1)[-1].lower()
            if key.startswith("RAG_") and name in REMOVED:
                out[name] = raw
        return out


def _decoded(raw: str, info: FieldInfo) -> Any:
    # the container itself (tuple[float, ...]) or one of a union's members (list[str] | None)
    origins = {get_origin(info.annotation), *(get_origin(a) for a in get_args(info.annotation))}
    if origins & {list, dict, tuple}:
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw  # validation names the setting and the value
    return raw


def groups() -> dict[str, list[str]]:
    """Setting names by the stage they configure ("" for the two at the top), in declaration order."""
    out: dict[str, list[str]] = {}
    for name, group in GROUP_OF.items():
        out.setdefault(group, []).append(name)
    return out


def tagged(tag: Tag) -> frozenset[str]:
    """The settings whose annotation carries ``tag``."""
    return frozenset(k for k, f in FIELDS.items() if tag in f.metadata)


ANSWER_FIELDS = tagged(ANSWER)  # an answerer is cached per value of both; a cached experiment answer per the first
CLIENT_FIELDS = tagged(CLIENT)
BUILT_WITH = tagged(BUILT)
PER_REQUEST_FIELDS = tagged(PER_REQUEST)


def nearest_hint(name: str) -> str:
    """", did you mean 'token_budget'?" for a misspelt setting name ("" when nothing is close), or why a
    removed one went."""
    if name in REMOVED:
        return f": it was removed ({REMOVED[name]})"
    close = difflib.get_close_matches(name, list(FIELDS), n=1, cutoff=0.6)
    return f", did you mean {close[0]!r}?" if close else ""


def flat_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """A validation error's location without its group (``("prune", "token_budget")`` -> ``("token_budget",)``):
    flat names are what users write."""
    return loc[1:] if len(loc) > 1 and loc[0] in GROUPS else loc


def explain(e: ValidationError) -> str:
    """A settings validation error as one line a person reads: each field, what is wrong, and for an unknown
    name the nearest setting (pydantic's own text is a multi-line dump with links)."""
    parts = []
    for err in e.errors():
        field = ".".join(str(x) for x in flat_loc(err["loc"])) or "settings"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown setting {field!r}{nearest_hint(field)}")
        else:
            got = err.get("input")
            shown = f" (got {got!r})" if isinstance(got, (str, int, float, bool)) or got is None else ""
            parts.append(f"{field}: {err['msg']}{shown}")
    return "; ".join(parts)
