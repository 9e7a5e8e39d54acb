"""One typed Settings object: ``rag.toml`` < ``RAG_*`` environment < explicit arguments (CLI flags).

Example:
    >>> from rag import Settings
    >>> s = Settings(store_path="/tmp/store", chunk_size=128)
    >>> s.chunk_size
    128
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def config_file() -> Path:
    """The TOML file settings are read from: ``RAG_CONFIG`` or ``./rag.toml``."""
    return Path(os.environ.get("RAG_CONFIG", "rag.toml"))


class Settings(BaseSettings):
    """Every knob of the pipeline. An experiment is just a different Settings."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", extra="forbid", validate_assignment=True, populate_by_name=True
    )

    # --- store -------------------------------------------------------------------------
    store_path: Path = Field(Path(".leanrag/store"), description="embedded Chroma folder")
    collection: str = Field("leanrag", min_length=3, max_length=63)
    chroma_host: str | None = Field(None, description="use a Chroma server instead of the embedded store")
    chroma_port: int = Field(8000, ge=1, le=65535)

    # --- ingest ------------------------------------------------------------------------
    embedding_model: str = Field(DEFAULT_EMBEDDING_MODEL, description="HF name or local path")
    embedding_batch_size: int = Field(64, ge=1, le=4096)
    device: str = "cpu"
    chunk_size: int = Field(200, ge=16, description="max chunk length in embedding-model tokens")
    chunk_overlap: int = Field(24, ge=0)
    ingest_exclude: list[str] = Field(
        default_factory=lambda: ["questions.jsonl"],
        description="file-name globs never ingested (hidden files are always skipped)",
    )
    write_batch: int = Field(256, ge=1, description="chunks embedded and written per Chroma batch")

    # --- tokens ------------------------------------------------------------------------
    tokenizer: str = Field("o200k_base", description="tiktoken encoding for every token count")

    # --- answering endpoint (used by later stages) -------------------------------------
    answerer: Literal["auto", "extractive", "openai", "local"] = "auto"
    llm_base_url: str | None = None
    llm_model: str = "gpt-5-mini"
    llm_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("llm_api_key", "RAG_LLM_API_KEY", "OPENAI_API_KEY")
    )

    @field_validator("store_path", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(v).expanduser() if isinstance(v, (str, Path)) else v

    @model_validator(mode="after")
    def _check_overlap(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: explicit arguments, then the environment, then the TOML file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file()))

    def replace(self, **overrides: Any) -> Settings:
        """A validated copy with some fields changed (the environment is not read again)."""
        unknown = set(overrides) - set(type(self).model_fields)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        data = self.model_dump()
        data.update(overrides)
        return type(self).model_validate(data)

    def public_dict(self) -> dict[str, Any]:
        """Settings as JSON-able values, secrets masked."""
        out = self.model_dump(mode="json")
        if self.llm_api_key is not None:
            out["llm_api_key"] = "***"
        return out
