"""A frozen requirements list whose exact pins conflict: refused naming --exact-pins, then installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import make_model, write
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration

# packaging 21.3 requires pyparsing!=3.0.5: a strict resolver refuses this pair on any Python,
# while pip before 20.3 installed it as frozen. Both are pure-Python wheels.
FROZEN = "packaging==21.3\npyparsing==3.0.5\n"
VERSIONS = "import importlib.metadata as m; print(m.version('packaging'), m.version('pyparsing'))"


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_conflicting_exact_pins_fail_naming_the_flag_then_install_with_it(
    tmp_path: Path, installer: str
) -> None:
    model = make_model(tmp_path / "model", code=None)
    write(model / "requirements.txt", FROZEN)
    write(model / "python_env.yaml", "python: 3.11.7\ndependencies:\n  - -r requirements.txt\n")
    cache = tmp_path / "cache"
    refused = run_envrun("env", "path", model, "--installer", installer, cache_dir=cache)
    assert refused.returncode == 2, refused.stderr
    assert "every requirement of the model is an exact pin" in refused.stderr
    assert "--exact-pins" in refused.stderr
    built = run_envrun(
        "env", "path", model, "--installer", installer, "--exact-pins", cache_dir=cache
    )
    assert built.returncode == 0, built.stderr
    python = Path(built.stdout.strip()) / "bin" / "python"
    done = subprocess.run([python, "-c", VERSIONS], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["21.3", "3.0.5"]
