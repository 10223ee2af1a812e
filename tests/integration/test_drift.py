"""`envrun drift`, `envrun lock` and `predict --locked` end to end, one fixture per drift class."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import shutil
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from tests.helpers import FIXTURES, MODELS, make_model, write
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration

WHEELS = FIXTURES / "wheels"
PROBE = {v: WHEELS / f"envrun_probe_pkg-{v}-py3-none-any.whl" for v in ("1.0.0", "2.0.0")}
LOADER = """
import envrun_probe_pkg


class _M:
    def predict(self, data, params=None):
        return [envrun_probe_pkg.__version__ for _ in data]


def _load_pyfunc(path):
    return _M()
"""
GITHUB_LINE = re.compile(r"^::(error|warning|notice)( [a-z]+=[^,:]*(,[a-z]+=[^,:]*)*)?::.*$")


def _model(
    root: Path, requirements: str, *, versions: tuple[str, ...] = ("1.0.0", "2.0.0")
) -> Path:
    model = make_model(root, loader="probe_version", loader_source=LOADER)
    links = root / "links"
    links.mkdir()
    for version in versions:
        shutil.copy(PROBE[version], links / PROBE[version].name)
    write(model / "requirements.txt", f"--find-links ./links\n{requirements}")
    write(model / "python_env.yaml", "python: 3.11.7\ndependencies:\n  - -r requirements.txt\n")
    write(model / "input_example.json", '{"inputs": [1, 2]}\n')
    return model


def _drift(*args: str | Path, cache: Path, **kw: Any) -> tuple[int, dict[str, Any]]:
    result = run_envrun("drift", *args, "--format", "json", cache_dir=cache, **kw)
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


def _findings(doc: dict[str, Any], category: str) -> list[dict[str, Any]]:
    return [f for m in doc["models"] for f in m["findings"] if f["category"] == category]


def test_consistency_fixture_fails_and_clean_one_is_quiet(cache: Path) -> None:
    code, doc = _drift(FIXTURES / "drift" / "inconsistent", "--skip", "availability", cache=cache)
    assert code == 1
    found = {(f["subject"], f["severity"]) for f in _findings(doc, "consistency")}
    assert ("scikit-learn", "high") in found and ("python", "high") in found
    quiet = run_envrun(
        "drift",
        FIXTURES / "drift" / "consistent",
        "--skip",
        "host",
        "--skip",
        "availability",
        "--skip",
        "moved",  # mlflow's transitive dependencies moved since the fixture's day
        cache_dir=cache,
    )
    assert quiet.returncode == 0, quiet.stdout
    assert len(quiet.stdout.strip().splitlines()) <= 1 and quiet.stdout.startswith("ok: ")


def test_host_drift_and_fail_on_thresholds(cache: Path) -> None:
    # The host (the test venv) has numpy 2.4.x; numpy_custom pins 2.2.6: a critical package.
    model = MODELS / "numpy_custom"
    code, doc = _drift(model, "--skip", "availability", cache=cache)
    (numpy,) = [f for f in _findings(doc, "host") if f["subject"] == "numpy"]
    assert numpy["severity"] == "high" and numpy["expected"] == "==2.2.6"
    assert code == 1
    code, _ = _drift(
        model, "--skip", "availability", "--skip", "host", "--fail-on", "low", cache=cache
    )
    assert code == 0


def test_installed_drift_after_someone_changes_the_env(tmp_path: Path, cache: Path) -> None:
    model = _model(tmp_path / "m", "envrun_probe_pkg==1.0.0\n")
    env = run_envrun("env", "path", model, cache_dir=cache)
    assert env.returncode == 0, env.stderr
    env_dir = Path(env.stdout.strip())
    code, doc = _drift(model, "--skip", "availability", "--skip", "host", cache=cache)
    assert code == 0 and _findings(doc, "installed") == []
    # Someone pip-installs another release into the cached env by hand.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "--python",
            str(env_dir / "bin" / "python"),
            "--no-index",
            str(PROBE["2.0.0"]),
            "--quiet",
        ],
        check=True,
    )
    code, doc = _drift(model, "--skip", "availability", "--skip", "host", cache=cache)
    (changed,) = _findings(doc, "installed")
    assert (changed["subject"], changed["expected"], changed["actual"]) == (
        "envrun-probe-pkg",
        "==1.0.0",
        "2.0.0",
    )
    assert changed["severity"] == "high" and code == 1  # a major bump


def test_lock_then_a_new_release_is_lock_drift(tmp_path: Path, cache: Path) -> None:
    model = _model(tmp_path / "m", "envrun_probe_pkg\n", versions=("1.0.0",))
    lock = model / "envrun.env.lock"
    made = run_envrun("lock", model, "-o", lock, cache_dir=cache)
    assert made.returncode == 0, made.stderr
    text = lock.read_text()
    assert "envrun-probe-pkg==1.0.0" in text and "--hash=sha256:" in text
    code, doc = _drift(model, "--skip", "host", "--skip", "availability", cache=cache)
    assert code == 0 and "lock" in doc["models"][0]["checked"]
    shutil.copy(PROBE["2.0.0"], model / "links" / PROBE["2.0.0"].name)  # a release lands
    code, doc = _drift(model, "--skip", "host", "--skip", "availability", cache=cache)
    (moved,) = _findings(doc, "lock")
    assert (moved["subject"], moved["expected"], moved["actual"], moved["severity"]) == (
        "envrun-probe-pkg",
        "1.0.0",
        "2.0.0",
        "high",
    )
    assert code == 1
    # The lock still builds exactly what it pinned, hash-checked.
    pred = run_envrun(
        "predict", model, model / "input_example.json", "--locked", lock, cache_dir=cache
    )
    assert pred.returncode == 0, pred.stderr
    assert json.loads(pred.stdout) == {"predictions": ["1.0.0", "1.0.0"]}


def test_a_lock_older_than_the_declared_requirements_is_drift(tmp_path: Path, cache: Path) -> None:
    model = _model(tmp_path / "m", "envrun_probe_pkg==1.0.0\n")
    assert (
        run_envrun("lock", model, "-o", model / "envrun.env.lock", cache_dir=cache).returncode == 0
    )
    write(model / "requirements.txt", "--find-links ./links\nenvrun_probe_pkg==2.0.0\n")
    code, doc = _drift(model, "--skip", "host", "--skip", "availability", cache=cache)
    stale = [f for f in _findings(doc, "lock") if f["subject"] == "lock"]
    assert [f["actual"] for f in stale] == ["envrun_probe_pkg==2.0.0 but the lock pins 1.0.0"]
    assert stale[0]["severity"] == "high" and code == 1


def test_another_models_lock_is_refused(tmp_path: Path, cache: Path) -> None:
    model = _model(tmp_path / "m", "envrun_probe_pkg==1.0.0\n", versions=("1.0.0",))
    lock = tmp_path / "envrun.env.lock"
    assert run_envrun("lock", model, "-o", lock, cache_dir=cache).returncode == 0
    other = _model(tmp_path / "other", "envrun_probe_pkg==2.0.0\n")
    result = run_envrun(
        "predict", other, other / "input_example.json", "--locked", lock, cache_dir=cache
    )
    assert result.returncode == 2
    assert "envrun_probe_pkg==2.0.0 but the lock pins 1.0.0" in result.stderr


def test_a_tampered_lock_fails_the_build(tmp_path: Path, cache: Path) -> None:
    model = _model(tmp_path / "m", "envrun_probe_pkg==1.0.0\n", versions=("1.0.0",))
    lock = tmp_path / "envrun.env.lock"
    assert run_envrun("lock", model, "-o", lock, cache_dir=cache).returncode == 0
    digest = hashlib.sha256(PROBE["1.0.0"].read_bytes()).hexdigest()
    lock.write_text(lock.read_text().replace(digest, "0" * 64))
    result = run_envrun(
        "predict", model, model / "input_example.json", "--locked", lock, cache_dir=cache
    )
    assert result.returncode in (2, 3), result.stderr
    assert "hash" in result.stderr.lower()


def _simple_index(root: Path, yanked: str | None) -> str:
    files = root / "files"
    files.mkdir(parents=True)
    page = root / "simple" / "envrun-probe-pkg"
    page.mkdir(parents=True)
    anchors = []
    for version, wheel in PROBE.items():
        shutil.copy(wheel, files / wheel.name)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        mark = f' data-yanked="{yanked}"' if yanked is not None and version == "1.0.0" else ""
        anchors.append(f'<a href="../../files/{wheel.name}#sha256={digest}"{mark}>{wheel.name}</a>')
    (page / "index.html").write_text("<html><body>" + "<br/>".join(anchors) + "</body></html>")
    return (root / "simple").as_uri() + "/"


def test_yanked_and_missing_pins_are_availability_drift(tmp_path: Path, cache: Path) -> None:
    url = _simple_index(tmp_path / "index", yanked="broken wheel")
    model = make_model(tmp_path / "m", loader="probe_version", loader_source=LOADER)
    write(model / "requirements.txt", f"--index-url {url}\nenvrun_probe_pkg==1.0.0\n")
    code, doc = _drift(model, "--skip", "host", cache=cache)
    (yanked,) = _findings(doc, "availability")
    assert (
        yanked["severity"] == "high"
        and "yanked" in yanked["message"]
        and "broken wheel" in yanked["message"]
    )
    assert code == 1
    write(model / "requirements.txt", f"--index-url {url}\nenvrun_probe_pkg==3.0.0\n")
    code, doc = _drift(model, "--skip", "host", cache=cache)
    (missing,) = _findings(doc, "availability")
    assert (missing["subject"], missing["expected"]) == (
        "envrun-probe-pkg",
        "==3.0.0",
    ) or "3.0.0" in missing["message"]
    assert code == 1


def test_moved_between_the_models_day_and_today(tmp_path: Path, cache: Path) -> None:
    # Saved in March 2021 with packaging unpinned: then 20.9 (which needed pyparsing), today a
    # newer major without dependencies. six==1.17.0 was uploaded in 2024, after the model's day:
    # an exact pin is spared by the cutoff, so it resolves then too, and cannot move.
    model = make_model(
        tmp_path / "m",
        loader="probe_version",
        loader_source=LOADER,
        extra_top="utc_time_created: '2021-03-01 12:00:00.000000'",
    )
    write(model / "requirements.txt", "packaging\nsix==1.17.0\n")
    write(model / "python_env.yaml", "python: 3.11.7\ndependencies:\n  - -r requirements.txt\n")
    code, doc = _drift(model, cache=cache)
    assert "moved" in doc["models"][0]["checked"], doc["models"][0]["skipped"]
    found = {f["subject"]: f for f in _findings(doc, "moved")}
    packaging = found["packaging"]
    then, today = Version(packaging["expected"]), Version(packaging["actual"])
    assert then < Version("21.1") and today.major >= 22
    assert packaging["severity"] == "high" and packaging["source"] == "requirements.txt"
    assert packaging["message"].startswith(
        f"packaging {then} (resolved as of 2021-03-01, when the model was saved) -> {today} today"
    )
    pyparsing = found["pyparsing"]
    assert pyparsing["actual"] is None and "a transitive dependency" in pyparsing["message"]
    assert "six" not in found
    assert "exact pins, which cannot move: 1 of 2 declared" in found["resolution"]["message"]
    assert code == 1
    # A date given on the command line is the day compared; --skip moved keeps drift offline.
    code, doc = _drift(model, "--as-of", "2022-06-30", cache=cache)
    assert (
        "(resolved as of 2022-06-30, requested by --as-of flag)"
        in ({f["subject"]: f for f in _findings(doc, "moved")}["packaging"]["message"])
    )
    code, doc = _drift(model, "--skip", "moved", "--skip", "availability", cache=cache)
    assert (
        _findings(doc, "moved") == []
        and {"category": "moved", "reason": "skipped with --skip"} in (doc["models"][0]["skipped"])
    )


def _pickle_from_module(module_name: str, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A real protocol-5 pickle of an instance of a class living in `module_name`."""
    module = types.ModuleType(module_name)
    secret = type("Secret", (), {"__module__": module_name})
    module.Secret = secret  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module_name, module)
    return pickle.dumps(secret(), protocol=5)


def test_pickle_preflight_undeclared_module_and_new_protocol(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model(
        tmp_path / "m", loader="mlflow.pyfunc.model", code=None, python_version="3.7.16"
    )
    write(model / "requirements.txt", "cloudpickle==3.1.2\n")
    data = _pickle_from_module("xgboost_private", monkeypatch)
    (model / "python_model.pkl").write_bytes(data)
    code, doc = _drift(
        model, "--skip", "host", "--skip", "availability", "--skip", "installed", cache=cache
    )
    messages = [f["message"] for f in _findings(doc, "pickle")]
    assert any(
        "python_model.pkl needs module `xgboost_private`, which requirements.txt does not declare"
        in m
        for m in messages
    ), messages
    assert any("protocol 5" in m for m in messages), messages
    assert code == 1


def test_ci_formats_junit_and_github(tmp_path: Path, cache: Path) -> None:
    models = [FIXTURES / "drift" / "inconsistent", FIXTURES / "drift" / "consistent"]
    skip = ["--skip", "availability", "--skip", "host", "--skip", "moved"]
    junit = run_envrun("drift", *models, *skip, "--format", "junit", cache_dir=cache)
    assert junit.returncode == 1
    root = ET.fromstring(junit.stdout)
    suites = root.findall("testsuite")
    assert len(suites) == 2
    assert int(suites[0].get("failures", "0")) >= 1 and int(suites[1].get("failures", "0")) == 0
    github = run_envrun("drift", *models, *skip, "--format", "github", cache_dir=cache)
    lines = github.stdout.strip().splitlines()
    assert lines and all(GITHUB_LINE.match(line) for line in lines), lines
    summary = tmp_path / "summary.md"
    run_envrun(
        "drift", *models, *skip, cache_dir=cache, extra_env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert "inconsistent" in summary.read_text()


FIXTURE_MODELS = sorted(p.name for p in MODELS.iterdir() if (p / "MLmodel").exists())


@pytest.mark.parametrize("name", FIXTURE_MODELS)
def test_drift_on_every_fixture_model(name: str, shared_cache: Path) -> None:
    code, doc = _drift(MODELS / name, "--fail-on", "high", cache=shared_cache)
    (model,) = doc["models"]
    assert {"consistency", "host", "installed", "pickle", "availability", "moved"} <= set(
        model["checked"]
    ), model
    assert [
        f
        for f in model["findings"]
        if f["category"] in ("consistency", "pickle", "availability") and f["severity"] == "high"
    ] == []
    host_high = [f for f in model["findings"] if f["severity"] == "high"]
    assert code == (1 if host_high else 0)


def test_predict_warns_about_undeclared_pickled_modules_before_building(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader = """
    import os
    import pickle


    def _load_pyfunc(path):
        with open(os.path.join(os.path.dirname(path), "python_model.pkl"), "rb") as fh:
            return pickle.load(fh)
    """
    model = make_model(tmp_path / "m", loader="unpickler", loader_source=loader, data="data")
    write(model / "data" / "README", "the loader reads python_model.pkl next to this directory\n")
    write(model / "requirements.txt", "")
    (model / "python_model.pkl").write_bytes(_pickle_from_module("xgboost_private", monkeypatch))
    write(model / "input.json", '{"inputs": [1]}')
    result = run_envrun("predict", model, model / "input.json", cache_dir=cache)
    assert result.returncode == 4, result.stderr
    warning = (
        "python_model.pkl needs module `xgboost_private`, which requirements.txt does not declare"
    )
    assert warning in result.stderr
    assert result.stderr.index(warning) < result.stderr.index("building env")
    again = run_envrun("predict", model, model / "input.json", cache_dir=cache)
    # A warm run does not scan before building (no warning line); the load failure's diagnosis
    # then names the same finding, since that is why the model failed.
    assert f"envrun: warning: {warning}" not in again.stderr
    assert f"likely cause: {warning}" in again.stderr
