"""The model sees only its env: not PYTHONPATH, not the user site, not the host's site-packages."""

from __future__ import annotations

import json
import site
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from tests.helpers import FIXTURES, INPUTS, MODELS, write
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration


def test_model_cannot_see_host_packages(tmp_path: Path, shared_cache: Path) -> None:
    # The host gets envrun_probe_pkg 1.0.0 and a fake `yaml` through PYTHONPATH and the user site;
    # the env declares envrun_probe_pkg 2.0.0 and numpy 2.2.6, and has no yaml.
    leak = tmp_path / "leak"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(leak),
            str(FIXTURES / "wheels" / "envrun_probe_pkg-1.0.0-py3-none-any.whl"),
        ],
        check=True,
    )
    write(leak / "yaml.py", "LEAKED = True\n")
    user_base = tmp_path / "userbase"
    user_site = (
        user_base
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
    )
    write(user_site / "yaml.py", "LEAKED = True\n")

    result = run_envrun(
        "predict",
        MODELS / "probe",
        INPUTS / "probe.json",
        cache_dir=shared_cache,
        extra_env={
            "PYTHONPATH": str(leak),
            "PYTHONUSERBASE": str(user_base),
            "PYTHONNOUSERSITE": "",
        },
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)["predictions"]
    assert seen["numpy_version"] == "2.2.6"
    assert numpy.__version__ != "2.2.6"  # the host's numpy differs, so the check means something
    assert seen["envrun_probe_pkg"] == "2.0.0"
    assert seen["yaml_importable"] is False
    host_paths = {str(leak), str(user_site), *site.getsitepackages()}
    assert not host_paths & set(seen["sys_path"])
    assert str(shared_cache) in seen["executable"]
