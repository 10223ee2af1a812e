"""The model sees only its env: not PYTHONPATH, not the user site, not the host's site-packages."""

from __future__ import annotations

import json
import site
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from tests.helpers import FIXTURES, INPUTS, MODELS
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration


def test_model_cannot_see_host_packages(tmp_path: Path, shared_cache: Path) -> None:
    # envrun_probe_pkg 1.0.0 is offered through PYTHONPATH and through the user site; the host's
    # own site-packages has yaml and another numpy. The env declares envrun_probe_pkg 2.0.0 and
    # numpy 2.2.6 and has no yaml: the model must see exactly that.
    wheel = FIXTURES / "wheels" / "envrun_probe_pkg-1.0.0-py3-none-any.whl"
    leak = tmp_path / "leak"
    user_base = tmp_path / "userbase"
    user_site = (
        user_base
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
    )
    for target in (leak, user_site):
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
                str(target),
                str(wheel),
            ],
            check=True,
        )

    result = run_envrun(
        "predict",
        MODELS / "probe",
        INPUTS / "probe.json",
        cache_dir=shared_cache,
        extra_env={"PYTHONPATH": str(leak), "PYTHONUSERBASE": str(user_base)},
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
