"""Resolution as of the model's day with real installers: files without an upload time stay
reachable for exact pins (a find-links directory, a local wheel), with uv and with pip."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from envrun import api
from envrun.env.layout import STATE_FILE
from envrun.settings import make_settings

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
WHEEL = "envrun_fixture_pkg-1.0.0-py3-none-any.whl"


def _find_links_model(tmp_path: Path) -> Path:
    """The localwheel fixture, its wheel moved into a find-links directory outside the model."""
    model = tmp_path / "model"
    shutil.copytree(FIXTURES / "models" / "localwheel", model)
    links = tmp_path / "links"
    links.mkdir()
    shutil.move(str(model / "wheels" / WHEEL), links / WHEEL)
    (model / "requirements.txt").write_text(
        f"--find-links {links}\nenvrun-fixture-pkg==1.0.0\n", encoding="utf-8"
    )
    (model / "constraints.txt").write_text("", encoding="utf-8")
    return model


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_an_exact_pin_only_a_find_links_dir_serves_installs_with_a_2023_cutoff(
    tmp_path: Path, installer: str
) -> None:
    model = _find_links_model(tmp_path)
    settings = make_settings(
        cache_dir=str(tmp_path / "cache"),
        installer=installer,
        as_of="2023-06-01",
        environ={**os.environ, "ENVRUN_AS_OF": "now"},  # the explicit value wins
    )
    run = api.predict(model, str(FIXTURES / "inputs" / "localwheel.json"), settings)
    assert json.loads(run.prediction.predictions_text)["predictions"] == [3.0, 4.0, -6.5, 0.0, 20.0]
    state = json.loads((run.env.path / STATE_FILE).read_text(encoding="utf-8"))
    assert state["as_of"]["cutoff"] == "2023-06-02T00:00:00Z"
    assert state["installed"]["envrun-fixture-pkg"] == "1.0.0"
    if installer == "uv":
        # The unpinned build dependency (pip) resolved as of the cutoff: a 2023 release.
        assert state["installed"]["pip"].startswith("23.")
    doc = run.resolution.to_json()
    assert doc["as_of"]["text"].startswith("resolved as of 2023-06-01, requested")


def test_as_of_now_and_created_build_different_envs_and_resolve_differently(tmp_path: Path) -> None:
    model = FIXTURES / "models" / "localwheel"
    cache = str(tmp_path / "cache")
    old_day = {**os.environ, "ENVRUN_AS_OF": "2022-01-01"}
    today = {**os.environ, "ENVRUN_AS_OF": "now"}
    old = api.resolve(model, make_settings(cache_dir=cache, environ=old_day))
    now = api.resolve(model, make_settings(cache_dir=cache, environ=today))
    assert old.fingerprint != now.fingerprint
    env = api.ensure_environment(old, make_settings(cache_dir=cache))
    installed = json.loads((env.path / STATE_FILE).read_text(encoding="utf-8"))["installed"]
    assert installed["envrun-fixture-pkg"] == "1.0.0"  # the local wheel in the model dir
    assert installed["pip"].startswith("21.")  # the unpinned pip of the day


def test_torch_from_the_find_links_dir_with_a_2023_cutoff(tmp_path: Path) -> None:
    """torch==2.13.0's CPU wheel is only in pip.conf's find-links dir, and it needs releases of
    its own day (typing-extensions>=4.10): those are taken from today, and the build says so."""
    settings = make_settings(cache_dir=str(tmp_path / "cache"), installer="uv", as_of="2023-06-01")
    resolution = api.resolve(FIXTURES / "models" / "torch_custom", settings)
    env = api.ensure_environment(resolution, settings)
    state = json.loads((env.path / STATE_FILE).read_text(encoding="utf-8"))
    assert state["installed"]["torch"] == "2.13.0+cpu"
    assert any("typing-extensions" in note for note in state["as_of"]["notes"])
