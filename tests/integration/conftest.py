"""Integration tests build real envs with real installers.

The envs of the bundled fixture models are built once per test session in a shared cache (one per
installer), because building them per test would take most of CI's time; tests about the cache's
own behaviour get a fresh cache root each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_envrun(
    *args: str | Path,
    cache_dir: Path,
    extra_env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    timeout: float = 900,
) -> CliResult:
    """Run the envrun CLI as a user would, in a child process."""
    env = dict(os.environ)
    env["ENVRUN_CACHE_DIR"] = str(cache_dir)
    env.pop("ENVRUN_INSTALLER", None)
    if extra_env:
        env.update(extra_env)
    proc = subprocess.run(
        [sys.executable, "-m", "envrun", *map(str, args)],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=cwd or ROOT,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache root for the whole session: each fixture's env is built once per installer."""
    return tmp_path_factory.mktemp("envrun-cache")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A fresh cache root for one test."""
    return tmp_path / "cache"
