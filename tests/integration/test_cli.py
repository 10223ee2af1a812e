"""The CLI as a user drives it: input forms, output file, resolve, env path, pip configuration."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import EXPECTED, FIXTURES, INPUTS, MODELS, ROOT, copy_model, write
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration


def _expected(name: str) -> object:
    return json.loads((EXPECTED / f"{name}.json").read_text())


def test_stdin_input(shared_cache: Path) -> None:
    data = (INPUTS / "numpy_custom.json").read_bytes()
    result = run_envrun("predict", MODELS / "numpy_custom", "-", cache_dir=shared_cache, stdin=data)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == _expected("numpy_custom")


def test_npy_input(tmp_path: Path, shared_cache: Path) -> None:
    rows = json.loads((INPUTS / "numpy_custom.json").read_text())["inputs"]
    path = tmp_path / "x.npy"
    np.save(path, np.asarray(rows, dtype=np.float64))
    result = run_envrun("predict", MODELS / "numpy_custom", path, cache_dir=shared_cache)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == _expected("numpy_custom")


def test_csv_input_for_an_mlflow_model(tmp_path: Path, shared_cache: Path) -> None:
    split = json.loads((INPUTS / "mlflow_sklearn.json").read_text())["dataframe_split"]
    path = tmp_path / "rows.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(split["columns"])
        writer.writerows(split["data"])
    result = run_envrun("predict", MODELS / "mlflow_sklearn", path, cache_dir=shared_cache)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == _expected("mlflow_sklearn")


def test_output_file(tmp_path: Path, shared_cache: Path) -> None:
    out = tmp_path / "sub" / "preds.json"
    result = run_envrun(
        "predict",
        MODELS / "numpy_custom",
        INPUTS / "numpy_custom.json",
        "-o",
        out,
        "-q",
        cache_dir=shared_cache,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""
    assert json.loads(out.read_text()) == _expected("numpy_custom")


def test_json_document_is_lossless(shared_cache: Path) -> None:
    doc = run_envrun(
        "predict",
        MODELS / "torch_custom",
        INPUTS / "torch_custom.json",
        "--json",
        cache_dir=shared_cache,
    ).json()
    assert doc["summary"].startswith("ndarray float32")
    assert doc["env"]["python"]["version"] == "3.11.7"
    assert set(doc["timings"]) >= {
        "resolve",
        "env",
        "worker",
        "total",
        "worker_load",
        "worker_predict",
    }


def test_resolve_json_shows_spec_and_what_was_ignored(tmp_path: Path) -> None:
    result = run_envrun("resolve", MODELS / "mlflow1_legacy", "--json", cache_dir=tmp_path / "c")
    assert result.returncode == 0, result.stderr
    doc = result.json()
    assert doc["spec"]["source"] == "conda.yaml"
    assert doc["spec"]["ignored"] == ["libgomp"]
    assert [r["text"] for r in doc["spec"]["requirements"]] == ["numpy==2.2.6"]
    assert len(doc["fingerprint"]) == 64
    assert doc["installer"] == {
        "name": "uv",
        "version": doc["installer"]["version"],
        "reason": "default",
    }
    assert not (tmp_path / "c" / "envs").exists()  # resolve builds nothing


def test_resolve_strict_refuses_conda_only_packages(tmp_path: Path) -> None:
    # A system library is only noted, even under --strict ...
    result = run_envrun("resolve", MODELS / "mlflow1_legacy", "--strict", cache_dir=tmp_path / "c")
    assert result.returncode == 0, result.stderr
    assert "libgomp (system library)" in result.stdout
    # ... while a conda package that would be added as a pip package is refused.
    model = copy_model("mlflow1_legacy", tmp_path / "m")
    conda = (model / "conda.yaml").read_text(encoding="utf-8")
    (model / "conda.yaml").write_text(conda.replace("- libgomp\n", "- pytorch=2.13\n"), "utf-8")
    result = run_envrun("resolve", model, "--strict", cache_dir=tmp_path / "c")
    assert result.returncode == 2
    assert "pytorch=2.13 -> torch==2.13.*" in result.stderr


def test_resolve_text_and_installer_choice(tmp_path: Path) -> None:
    result = run_envrun(
        "resolve", MODELS / "py310", cache_dir=tmp_path / "c", extra_env={"ENVRUN_INSTALLER": "pip"}
    )
    assert result.returncode == 0, result.stderr
    assert "3.10.13" in result.stdout
    assert "installer:    pip" in result.stdout
    assert "ENVRUN_INSTALLER" in result.stdout


def test_env_path(shared_cache: Path) -> None:
    result = run_envrun("env", "path", MODELS / "numpy_custom", cache_dir=shared_cache)
    assert result.returncode == 0, result.stderr
    env = Path(result.stdout.strip())
    assert (env / ".envrun-state.json").is_file()
    assert (env / "bin" / "python").exists()


def test_version_and_help() -> None:
    version = subprocess.run(
        [sys.executable, "-m", "envrun", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("envrun ")
    helptext = subprocess.run(
        [sys.executable, "-m", "envrun", "predict", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in (
        "--installer",
        "--python",
        "--cache-dir",
        "--rebuild",
        "--timeout",
        "--json",
        "-o",
    ):
        assert flag in helptext
    assert "exit codes" in helptext


@pytest.mark.parametrize("installer", ["uv", "pip"])
@pytest.mark.parametrize("via", ["pip.conf", "PIP_FIND_LINKS"])
def test_user_pip_configuration_reaches_both_installers(
    tmp_path: Path, cache: Path, installer: str, via: str
) -> None:
    # The model asks for a package by name only; just the user's pip configuration says where it is.
    model = copy_model("localwheel", tmp_path / "model")
    write(model / "requirements.txt", "envrun-fixture-pkg==1.0.0\n")
    write(model / "python_env.yaml", "python: 3.11.7\ndependencies:\n  - -r requirements.txt\n")
    wheels = FIXTURES / "wheels"
    conf = write(tmp_path / "pip.conf", f"[global]\nno-index = true\nfind-links = {wheels}\n")
    if via == "pip.conf":
        extra = {"PIP_CONFIG_FILE": str(conf), "PIP_FIND_LINKS": "", "PIP_NO_INDEX": ""}
    else:
        extra = {"PIP_CONFIG_FILE": "/dev/null", "PIP_FIND_LINKS": str(wheels), "PIP_NO_INDEX": "1"}
    result = run_envrun(
        "predict",
        model,
        INPUTS / "localwheel.json",
        "--installer",
        installer,
        "--json",
        cache_dir=cache,
        extra_env=extra,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.json()["predictions"] == [3.0, 4.0, -6.5, 0.0, 20.0]


def test_resolve_text_shows_the_signature(tmp_path: Path) -> None:
    result = run_envrun("resolve", MODELS / "mlflow_pyfunc", cache_dir=tmp_path / "c")
    assert result.returncode == 0, result.stderr
    assert "signature inputs: customer_id: string, tenure: long" in result.stdout
    assert "mlflow==3.17.2    [requirements.txt:1]" in result.stdout
