"""The install that the README's set-up makes is the one the published figures were measured with.

A missing dependency must fail here, not lower quality quietly (PyStemmer once did: the learned weights
were trained on stemmed terms and a fresh install scored 0.728 instead of 0.740 nDCG@10 on SciFact).
"""
from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

import pytest

from tests.conftest import ROOT


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    return {_normal(re.split(r"[\s<>=!~;\[]", s, maxsplit=1)[0]) for s in specs}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _third_party_imports() -> dict[str, str]:
    """Top-level module -> first file that imports it, for every import in rag/ outside the stdlib."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "rag").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "rag" and top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared() -> None:
    declared = _declared()
    owners = packages_distributions()
    missing = {}
    for module, where in _third_party_imports().items():
        dists = {_normal(d) for d in owners.get(module, [])}
        assert dists, f"{module} (imported in {where}) is not installed by the README's set-up"
        if not dists & declared:
            missing[module] = (sorted(dists), where)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_stemming_is_installed_and_matches_the_trained_weights() -> None:
    from rag.answer.abstain import WEIGHTS_FILE as ABSTAIN_WEIGHTS
    from rag.retrieve.features import WEIGHTS_FILE
    from rag.text import STEMMED, terms, text_processing

    assert text_processing() == STEMMED
    for path in (WEIGHTS_FILE, ABSTAIN_WEIGHTS):
        assert json.loads(path.read_text())["text_processing"] == STEMMED
    assert terms("running runners ran") == ["run", "runner", "ran"]


def test_learned_scorers_refuse_unstemmed_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.retrieve.features as features
    import rag.text as text

    monkeypatch.setattr(text, "_stemmer", lambda: None)
    features.load_models.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="PyStemmer"):
            features.load_models()
    finally:
        features.load_models.cache_clear()
