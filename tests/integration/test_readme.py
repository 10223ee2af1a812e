"""The README's "Library use" example runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration


def library_use_block() -> str:
    """The first python code block under the README's "## Library use" heading."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Library use\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the Library use section lost its python block"
    return match.group(1)


def test_readme_library_example_runs(tmp_path: Path) -> None:
    # Run as a reader would: a fresh interpreter in the repository root, where the example's
    # relative paths point; every deprecation is an error, so the example uses current paths.
    code = library_use_block()
    probe = "\nassert run.prediction.value is not None and result.exit_code == 0\nprint('OK')\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVRUN_")}
    env["ENVRUN_CACHE_DIR"] = str(tmp_path / "cache")
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code + probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("OK")
    assert any((tmp_path / "cache" / "envs").iterdir())  # built in the test's own cache
