"""Every bundled fixture predicts through both installers and matches what real MLflow gave."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from envrun import api
from envrun.errors import PredictError
from tests.helpers import EXPECTED, INPUTS, MODELS
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration

WITH_EXPECTED = sorted(p.stem for p in EXPECTED.glob("*.json"))
# Fixtures whose code the host (the test venv: numpy, torch, no mlflow) can load in-process.
HOST_LOADABLE = ["mlflow1_legacy", "numpy_custom", "py310", "torch_custom"]


def test_every_fixture_has_expected_output_or_is_an_error_model() -> None:
    models = {p.name for p in MODELS.iterdir() if p.is_dir()}
    assert models - set(WITH_EXPECTED) == {"probe", "raises", "unknown_loader"}


@pytest.mark.parametrize("installer", ["uv", "pip"])
@pytest.mark.parametrize("name", WITH_EXPECTED)
def test_fixture_matches_mlflow_and_is_reused(
    name: str, installer: str, shared_cache: Path
) -> None:
    args = ("predict", MODELS / name, INPUTS / f"{name}.json", "--installer", installer)
    first = run_envrun(*args, "--json", cache_dir=shared_cache)
    assert first.returncode == 0, first.stderr
    doc = first.json()
    expected = json.loads((EXPECTED / f"{name}.json").read_text())
    # The same library versions run the same code: the answer is MLflow's, to the last digit.
    assert doc["predictions"] == expected["predictions"]
    assert doc["env"]["installer"] == installer

    plain = run_envrun(*args, cache_dir=shared_cache)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout) == expected
    again = run_envrun(*args, "--json", cache_dir=shared_cache).json()
    assert again["env"]["cache"] == "hit"
    assert again["env"]["path"] == doc["env"]["path"]
    assert "building env" not in plain.stderr


@pytest.mark.parametrize("name", HOST_LOADABLE)
def test_env_matches_in_process(name: str, shared_cache: Path) -> None:
    from envrun.settings import make_settings

    settings = make_settings(cache_dir=str(shared_cache))
    in_env = api.predict(MODELS / name, str(INPUTS / f"{name}.json"), settings).prediction
    in_proc = api.predict_in_process(MODELS / name, str(INPUTS / f"{name}.json"))
    assert in_proc.side == "in-process"
    assert in_env.summary == in_proc.summary
    _assert_same(in_env.value, in_proc.value)


def test_host_that_cannot_load_says_why() -> None:
    with pytest.raises(PredictError) as err:
        api.predict_in_process(MODELS / "mlflow_sklearn", str(INPUTS / "mlflow_sklearn.json"))
    assert err.value.stage == "load"
    assert "mlflow" in str(err.value)


def _assert_same(a: Any, b: Any) -> None:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert a.dtype == b.dtype
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b)
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b
