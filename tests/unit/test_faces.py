"""Each package's __init__ is its face: everything in __all__ exists; old paths warn."""

from __future__ import annotations

import importlib
import sys

import pytest

FACES = (
    "envrun.model",
    "envrun.env",
    "envrun.env.backends",
    "envrun.pickles",
    "envrun.check",
    "envrun.check.report",
    "envrun.drift",
    "envrun.cli",
)


@pytest.mark.parametrize("name", FACES)
def test_every_public_name_is_there(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    assert sorted(module.__all__) == sorted(set(module.__all__))
    missing = [n for n in module.__all__ if getattr(module, n, None) is None]
    assert missing == []
    assert not [n for n in module.__all__ if n.startswith("_")]


def test_the_library_example_imports_through_the_faces() -> None:
    from envrun.check import CheckOptions, run_check
    from envrun.drift import run_drift

    assert callable(run_check) and callable(run_drift) and CheckOptions().host


def test_the_old_drift_run_path_works_and_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    from envrun.drift import run_drift

    monkeypatch.delitem(sys.modules, "envrun.drift_run", raising=False)
    with pytest.warns(DeprecationWarning, match=r"import run_drift from envrun\.drift"):
        old = importlib.import_module("envrun.drift_run")
    assert old.run_drift is run_drift
