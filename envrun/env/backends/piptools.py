"""The pip-tools tool venv: a cached virtualenv with pinned pip-tools and pip, per Python version.

Locking and index checks with the pip installer run pip-compile and pip from this venv, never
from envrun's own environment; it is built once under a file lock and marked complete last.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from envrun import proc
from envrun.env.backends.plan import env_python, virtualenv_argv
from envrun.env.interpreters import Interpreter
from envrun.env.layout import CacheLayout
from envrun.errors import CommandFailed, EnvBuildError, SpecError
from envrun.fsutil import write_atomic
from envrun.settings import Settings

PIP_TOOLS_VERSION = "7.6.2"
# pip-tools drives pip's internals, so the two are pinned together; pip 26.0.1 is the last for 3.9.
_PIP_FOR_MINOR = {"3.9": "26.0.1"}
_PIP_DEFAULT = "26.3"
_TOOL_WAIT_SECONDS = 600.0


def ensure_pip_tools(interpreter: Interpreter, settings: Settings) -> Path:
    """The python of a cached venv with pip-tools for the interpreter's version (built once)."""
    if tuple(int(p) for p in re.findall(r"\d+", interpreter.version)[:2]) < (3, 9):
        raise SpecError(
            f"the pip installer cannot lock for Python {interpreter.version} (pip-tools needs 3.9+)",
            value=interpreter.path,
            fix="use --installer uv",
        )
    name = f"pip-tools-{PIP_TOOLS_VERSION}-{interpreter.implementation}{interpreter.version}"
    layout = CacheLayout(settings.cache_dir)
    tool_dir = layout.tool_dir(name)
    want = {"pip-tools": PIP_TOOLS_VERSION, "pip": pip_version_for(interpreter)}
    if _tool_ready(tool_dir, want):
        return env_python(tool_dir)
    from filelock import FileLock, Timeout

    lock_path = layout.tool_lock(name)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(lock_path), timeout=_TOOL_WAIT_SECONDS):
            if not _tool_ready(tool_dir, want):  # check again: another process may have built it
                _build_tool(tool_dir, interpreter, want, settings, layout)
    except Timeout:
        raise EnvBuildError(
            "timed out waiting for another process installing pip-tools",
            value=str(lock_path),
            fix="check for a stuck envrun process, or remove the lock file if none is running",
        ) from None
    return env_python(tool_dir)


def _build_tool(
    tool_dir: Path,
    interpreter: Interpreter,
    want: dict[str, str],
    settings: Settings,
    layout: CacheLayout,
) -> None:
    shutil.rmtree(tool_dir, ignore_errors=True)
    tool_dir.parent.mkdir(parents=True, exist_ok=True)
    log = layout.tool_log(tool_dir.name)
    settings.reporter.step(
        f"installing pip-tools {PIP_TOOLS_VERSION} for Python {interpreter.version}"
    )
    install = [str(env_python(tool_dir)), "-m", "pip", "install", "--disable-pip-version-check"]
    install += ["--no-input", *(f"{name}=={version}" for name, version in want.items())]
    try:
        # The same virtualenv app-data dir as the pip backend, so the seed wheels are shared.
        data = {"VIRTUALENV_OVERRIDE_APP_DATA": str(layout.virtualenv_data)}
        proc.run(virtualenv_argv(interpreter.path, tool_dir), env=settings.child_env(data), log=log)
        proc.run(install, env=settings.child_env(), log=log, on_line=settings.reporter.line)
    except CommandFailed as exc:
        shutil.rmtree(tool_dir, ignore_errors=True)
        raise EnvBuildError(
            f"could not install pip-tools {PIP_TOOLS_VERSION}, which locking with pip needs",
            value=" ".join(exc.argv[:6]),
            fix=f"check the network or pip's index settings, or use --installer uv; log: {log}",
            log_path=str(log),
            tail=proc.tail(exc.stdout + exc.stderr, 2500),
        ) from None
    marker = layout.tool_marker(tool_dir)
    # The completion marker, written last.
    write_atomic(marker, json.dumps(want), what="pip-tools venv's marker", option="--cache-dir")


def _tool_ready(tool_dir: Path, want: dict[str, str]) -> bool:
    try:
        state = json.loads(CacheLayout.tool_marker(tool_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    # The venv points at its base interpreter, which may have been removed since.
    return bool(state == want and os.path.exists(env_python(tool_dir)))


def pip_version_for(interpreter: Interpreter) -> str:
    """The pip pinned next to pip-tools in the tool venv for this interpreter."""
    return _PIP_FOR_MINOR.get(interpreter.minor, _PIP_DEFAULT)
