from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rag import Settings


def test_precedence_toml_then_env_then_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "rag.toml"
    toml.write_text('chunk_size = 111\nchunk_overlap = 11\ncollection = "fromtoml"\nstore_path = "/toml/store"\n')
    monkeypatch.setenv("RAG_CONFIG", str(toml))
    s = Settings()
    assert (s.ingest.chunk_size, s.store.collection, s.store.store_path) == (111, "fromtoml", Path("/toml/store"))

    monkeypatch.setenv("RAG_CHUNK_SIZE", "122")
    monkeypatch.setenv("RAG_STORE_PATH", "/env/store")
    s = Settings()
    assert (s.ingest.chunk_size, s.store.collection, s.store.store_path) == (122, "fromtoml", Path("/env/store"))

    s = Settings(chunk_size=133)
    assert (s.ingest.chunk_size, s.store.collection, s.store.store_path) == (133, "fromtoml", Path("/env/store"))


def test_api_key_from_openai_variable_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    s = Settings()
    assert s.answer.llm_api_key is not None and s.answer.llm_api_key.get_secret_value() == "sk-secret-value"
    assert "sk-secret-value" not in str(s.public_dict())
    assert "sk-secret-value" not in repr(s)


def test_rag_llm_api_key_wins_over_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "a")
    monkeypatch.setenv("RAG_LLM_API_KEY", "b")
    assert Settings().answer.llm_api_key.get_secret_value() == "b"


def test_invalid_values_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match="chunk_overlap"):
        Settings(chunk_size=50, chunk_overlap=60)
    with pytest.raises(ValidationError, match="no_such_setting"):
        Settings(no_such_setting=1)


def test_replace_validates_and_rejects_unknown_names() -> None:
    s = Settings(chunk_size=100)
    assert s.replace(chunk_size=150).ingest.chunk_size == 150
    assert s.ingest.chunk_size == 100  # the original is not mutated
    with pytest.raises(ValueError, match="unknown setting"):
        s.replace(bogus=1)
    with pytest.raises(ValidationError):
        s.replace(chunk_size=-3)


def test_every_model_setting_keys_the_answerer_and_the_experiment_cache() -> None:
    """A model setting missing from ANSWER_FIELDS would let a cached answerer or a cached experiment answer
    outlive a change of it (the experiment key once missed the model family, prices and API version)."""
    from rag.settings import ANSWER_FIELDS, CLIENT_FIELDS, FIELDS

    model = {f for f in FIELDS if f.startswith(("llm_", "local_")) and not f.startswith("llm_rerank")}
    assert model <= ANSWER_FIELDS | CLIENT_FIELDS
    assert not ANSWER_FIELDS & CLIENT_FIELDS and ANSWER_FIELDS | CLIENT_FIELDS <= set(FIELDS)


def test_a_misspelt_or_mistyped_setting_is_explained_in_one_line() -> None:
    import pytest
    from pydantic import ValidationError

    from rag.errors import InputError
    from rag.settings import explain

    with pytest.raises(ValidationError) as e:
        Settings(tokn_budget=1)
    assert explain(e.value) == "unknown setting 'tokn_budget', did you mean 'token_budget'?"
    with pytest.raises(ValidationError) as e:
        Settings(token_budget="abc")
    assert explain(e.value).startswith("token_budget: ") and "'abc'" in explain(e.value)
    assert "\n" not in explain(e.value) and "pydantic" not in explain(e.value)
    with pytest.raises(InputError, match="did you mean 'evidence_mass'"):
        Settings().replace(evidence_mas=1.0)


def test_a_removed_setting_says_why_it_went(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from rag.errors import InputError
    from rag.settings import FIELDS, explain
    from rag.stage_settings import REMOVED

    assert not set(REMOVED) & set(FIELDS)  # a name is either a setting or removed, never both
    with pytest.raises(InputError, match=r"unknown setting 'rrf_k': it was removed \(reciprocal rank fusion"):
        Settings().replace(rrf_k=20)
    toml = tmp_path / "rag.toml"
    toml.write_text("[prune]\nadaptive_min_gap = 0.1\n")
    monkeypatch.setenv("RAG_CONFIG", str(toml))
    with pytest.raises(ValidationError) as e:
        Settings()
    assert explain(e.value).startswith("unknown setting 'adaptive_min_gap': it was removed (")
    monkeypatch.delenv("RAG_CONFIG")
    monkeypatch.setenv("RAG_RRF_K", "20")
    with pytest.raises(ValidationError) as e:
        Settings()
    assert explain(e.value).startswith("unknown setting 'rrf_k': it was removed (")
    monkeypatch.delenv("RAG_RRF_K")
    monkeypatch.setenv("RAG_HOP__HOP_WEIGHT", "0.5")  # the group form too
    with pytest.raises(ValidationError) as e:
        Settings()
    assert explain(e.value).startswith("unknown setting 'hop_weight': it was removed (")


def test_every_setting_says_what_it_does() -> None:
    """`rag config show` and the docs read these: a knob nobody can explain is one nobody can turn."""
    from rag.settings import FIELDS, GROUPS, Settings

    assert [k for k, f in FIELDS.items() if not (f.description or "").strip()] == []
    assert [k for k, f in Settings.model_fields.items() if not (f.description or "").strip()] == []
    assert len(Settings.model_fields) <= 12 and len(GROUPS) >= 9  # the top level: groups, not knobs


def test_every_setting_is_in_one_stage_group_and_config_show_prints_them(tmp_path) -> None:  # noqa: ANN001
    import subprocess
    import sys
    import tomllib

    from rag.settings import FIELDS, GROUPS, groups

    by = groups()
    names = [n for group in by.values() for n in group]
    assert sorted(names) == sorted(FIELDS) and len(names) == len(set(names))
    assert set(by) == {"", *GROUPS} and by[""] == ["language", "tokenizer"]
    assert "token_budget" in by["prune"] and "hop_budget" in by["hop"] and "api_key" in by["api"]
    assert "abstain_learned_above" in by["abstain"] and "reranker" in by["rerank"]
    out = subprocess.run([sys.executable, "-m", "rag.cli", "config", "show", "--store", str(tmp_path / "s")],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    lines = out.splitlines()
    assert lines.index("[prune]") < lines.index("token_budget = 350") < lines.index("[abstain]")
    assert sum(1 for line in lines if line.startswith("[")) == len(GROUPS)
    shown = tomllib.loads("\n".join(line for line in lines if "null" not in line))  # TOML has no null
    assert shown["prune"]["token_budget"] == 350 and shown["store"]["store_path"] == str(tmp_path / "s")


def test_nested_and_flat_names_are_the_same_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups in rag.toml and RAG_<GROUP>__<NAME> in the environment; the flat names of earlier releases
    keep working everywhere, with the usual precedence: arguments, then environment, then the file."""
    toml = tmp_path / "rag.toml"
    toml.write_text('language = "de"\ntoken_budget = 90\n[prune]\nmax_passages = 3\n[hop]\nhop = false\n')
    monkeypatch.setenv("RAG_CONFIG", str(toml))
    s = Settings()
    assert (s.language, s.prune.token_budget, s.prune.max_passages, s.hop.hop) == ("de", 90, 3, False)
    monkeypatch.setenv("RAG_PRUNE__TOKEN_BUDGET", "80")
    monkeypatch.setenv("RAG_MAX_PASSAGES", "4")
    monkeypatch.setenv("RAG_INGEST_EXCLUDE", '["a.md", "b.md"]')
    s = Settings()
    assert (s.prune.token_budget, s.prune.max_passages, s.ingest.ingest_exclude) == (80, 4, ["a.md", "b.md"])
    s = Settings(token_budget=70, hop=True, prune={"max_passages": 5})
    assert (s.prune.token_budget, s.prune.max_passages, s.hop.hop) == (70, 5, True)
    assert s.value("token_budget") == 70 and s.flat()["max_passages"] == 5
    assert Settings(**s.flat(mode="json")) == s  # what `rag serve --workers` hands its workers
    with pytest.raises(ValidationError, match="tokn_budget"):
        Settings(prune={"tokn_budget": 1})
