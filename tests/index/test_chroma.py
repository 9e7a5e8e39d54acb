"""Reaching Chroma: a look at a store creates nothing, and a server that is not there is named with the
command that starts one."""
from __future__ import annotations

from pathlib import Path

import pytest

from rag.index.chroma import StoreConfig, StoreError, client_for, peek
from rag.settings import Settings
from tests.conftest import free_port


def test_peek_at_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    where = tmp_path / "typo"
    assert peek(StoreConfig(where, "leanrag")) is None
    assert not where.exists()


def test_the_config_comes_from_the_settings(tmp_path: Path) -> None:
    cfg = StoreConfig.of(Settings(store_path=tmp_path, chroma_host="127.0.0.1", chroma_port=8123))
    assert (cfg.path, cfg.host, cfg.port) == (tmp_path, "127.0.0.1", 8123)


def test_an_absent_server_is_a_store_error_saying_how_to_start_one() -> None:
    with pytest.raises(StoreError, match="chroma run"):
        client_for(StoreConfig(Path("."), "leanrag", host="127.0.0.1", port=free_port()))
