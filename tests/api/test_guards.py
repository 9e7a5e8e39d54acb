"""The door's checks on their own: keys long enough to protect, bearer tokens compared whole, Host names
read as a browser sends them."""
from __future__ import annotations

import pytest
from fastapi.security import HTTPAuthorizationCredentials

from rag.api.guards import MIN_KEY_CHARS, _host_name, auth_problems, bearer_matches, loopback_names
from rag.settings import Settings


def bearer(token: str) -> HTTPAuthorizationCredentials:
    return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)


def test_short_keys_are_refused_and_named() -> None:
    assert auth_problems(Settings()) == []
    assert auth_problems(Settings(api_key="k" * MIN_KEY_CHARS)) == []
    problems = auth_problems(Settings(api_key="", api_admin_key="short-admin"))
    assert len(problems) == 2 and "RAG_API_KEY" in problems[0] and "RAG_API_ADMIN_KEY" in problems[1]
    assert "short-admin" not in " ".join(problems)


def test_a_bearer_token_matches_only_a_whole_key() -> None:
    key = Settings(api_key="k" * 20).api.api_key
    assert bearer_matches(bearer("k" * 20), key)
    assert bearer_matches(bearer(" " + "k" * 20 + " "), key)  # surrounding blanks are not part of a token
    assert not bearer_matches(bearer("k" * 19), key)
    assert not bearer_matches(bearer(""), key, None)  # an empty token never matches
    assert not bearer_matches(None, key)


@pytest.mark.parametrize(("header", "name"), [("localhost:8080", "localhost"), ("127.0.0.1", "127.0.0.1"),
                                              ("[::1]:8080", "[::1]"), ("::1", "::1"),
                                              ("evil.example:8080", "evil.example")])
def test_host_names_lose_their_port(header: str, name: str) -> None:
    assert _host_name(header) == name


def test_loopback_names_include_the_configured_host() -> None:
    assert {"127.0.0.1", "localhost", "::1", "[::1]"} <= loopback_names("127.0.0.1")
    assert "my-box" in loopback_names("MY-BOX")
