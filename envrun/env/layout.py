"""The cache's tree: every path under the cache root is named here and nowhere else.

```
CACHE/
  envs/<fingerprint[:20]>/          one env per fingerprint; complete once .envrun-state.json exists
  envs/.<name>.removing-<pid>-<ns>  an env being deleted (renamed first, so never mistaken for one)
  envs/<name>/.envrun-models.json   the models that used the env (path and name)
  locks/<fingerprint[:20]>.lock     per-fingerprint build locks; locks/<tool>.lock for tool venvs
  locks/<fingerprint[:20]>.use      per-env use locks: shared by every run, exclusive to remove;
                                    the file's mtime is the env's last use
  logs/<name>.log                   installer output of builds, locks and tool installs
  tools/<tool>/                     tool venvs (pip-tools), complete once .envrun-tool.json exists
  tmp/<tag>-<pid>-<ns>/             work dirs of one call (installer inputs, lock resolution)
  virtualenv-data/                  virtualenv's app data (seed wheels), shared by every build
  tools.json, interpreters.json     memos of installer versions and interpreter probes
```
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = ".envrun-state.json"
TOOL_MARKER = ".envrun-tool.json"
MODELS_FILE = ".envrun-models.json"
USE_SUFFIX = ".use"
# Short, because a venv's scripts carry its path in their shebang, which has a length limit.
ENV_NAME_LENGTH = 20
_REMOVING = ".removing-"
_PID_MAX = 4194304  # Linux's ceiling (2**22); clocks in nanoseconds are far above it


def _stamp() -> str:
    # Time first so logs sort by age; the pid and a counter keep two processes apart.
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


@dataclass(frozen=True)
class CacheLayout:
    """Names every file and directory under one cache root; creates nothing by itself."""

    root: Path

    # --- envs ---------------------------------------------------------------------------------

    @property
    def envs(self) -> Path:
        """The directory holding one env per fingerprint."""
        return self.root / "envs"

    def env_dir(self, fingerprint: str) -> Path:
        """Where the env with this fingerprint lives."""
        return self.envs / env_name(fingerprint)

    @staticmethod
    def state_file(env_dir: Path) -> Path:
        """An env's completion marker, written last by a build."""
        return env_dir / STATE_FILE

    @staticmethod
    def models_file(env_dir: Path) -> Path:
        """The list of models that used the env (path and name)."""
        return env_dir / MODELS_FILE

    def removal_dir(self, env_dir: Path) -> Path:
        """The name an env is renamed to while it is deleted (a hidden sibling)."""
        return env_dir.with_name(f".{env_dir.name}{_REMOVING}{os.getpid()}-{time.monotonic_ns()}")

    def env_dirs(self) -> Iterator[Path]:
        """Every env directory, complete or not, sorted by name (removals in progress excluded)."""
        yield from (p for p in _children(self.envs) if p.is_dir() and not p.name.startswith("."))

    def removal_leftovers(self) -> Iterator[Path]:
        """Env directories whose removal began and may not have finished."""
        yield from (p for p in _children(self.envs) if _REMOVING in p.name)

    # --- locks --------------------------------------------------------------------------------

    @property
    def locks(self) -> Path:
        """The directory of file locks."""
        return self.root / "locks"

    def env_lock(self, fingerprint: str) -> Path:
        """The lock held while the env of this fingerprint is built."""
        return self.locks / f"{env_name(fingerprint)}.lock"

    def use_lock(self, fingerprint: str) -> Path:
        """The lock every run holds shared on its env; its mtime is the env's last use."""
        return self.locks / f"{env_name(fingerprint)}{USE_SUFFIX}"

    def use_lock_files(self) -> Iterator[Path]:
        """Every env's use lock file."""
        yield from (p for p in _children(self.locks) if p.suffix == USE_SUFFIX)

    def tool_lock(self, tool: str) -> Path:
        """The lock held while a tool venv is built."""
        return self.locks / f"{tool}.lock"

    def lock_files(self) -> Iterator[Path]:
        """Every lock file."""
        yield from (p for p in _children(self.locks) if p.suffix == ".lock")

    # --- logs ---------------------------------------------------------------------------------

    @property
    def logs(self) -> Path:
        """The directory of installer logs (kept after a failed build)."""
        return self.root / "logs"

    def build_log(self, fingerprint: str) -> Path:
        """A new log for one build of this fingerprint's env."""
        return self.logs / f"{env_name(fingerprint)}-{_stamp()}.log"

    def lock_log(self, fingerprint: str) -> Path:
        """A new log for one `envrun lock` resolution."""
        return self.logs / f"lock-{env_name(fingerprint) or 'model'}-{_stamp()}.log"

    def tool_log(self, tool: str) -> Path:
        """A new log for one install of a tool venv."""
        return self.logs / f"{tool}-{os.getpid()}.log"

    def log_files(self) -> Iterator[Path]:
        """Every log file."""
        yield from (p for p in _children(self.logs) if p.suffix == ".log")

    # --- tool venvs, memos, shared data -------------------------------------------------------

    @property
    def tools(self) -> Path:
        """The directory of tool venvs."""
        return self.root / "tools"

    def tool_dir(self, tool: str) -> Path:
        """A tool venv (e.g. pip-tools for one Python version)."""
        return self.tools / tool

    @staticmethod
    def tool_marker(tool_dir: Path) -> Path:
        """A tool venv's completion marker."""
        return tool_dir / TOOL_MARKER

    def tool_dirs(self) -> Iterator[Path]:
        """Every tool venv directory."""
        yield from (p for p in _children(self.tools) if p.is_dir())

    @property
    def tool_versions_memo(self) -> Path:
        """Installer versions, remembered by the installer binary's stat."""
        return self.root / "tools.json"

    @property
    def interpreters_memo(self) -> Path:
        """Interpreter probes, remembered by the interpreter's stat."""
        return self.root / "interpreters.json"

    @property
    def virtualenv_data(self) -> Path:
        """virtualenv's app-data dir (seed wheels), shared by every env and tool build."""
        return self.root / "virtualenv-data"

    # --- temporary work dirs ------------------------------------------------------------------

    @property
    def tmp(self) -> Path:
        """The directory of per-call work dirs."""
        return self.root / "tmp"

    def build_workdir(self, fingerprint: str) -> Path:
        """The installer-input dir of one build (not created here; the backend writes into it)."""
        return self.tmp / f"{env_name(fingerprint)}-{os.getpid()}"

    def new_workdir(self, tag: str) -> Path:
        """A fresh, empty work dir for one call, created now; the caller removes it."""
        path = self.tmp / f"{tag}-{os.getpid()}-{time.monotonic_ns()}"
        path.mkdir(parents=True)
        return path

    def workdirs(self) -> Iterator[Path]:
        """Every work dir (leftovers of killed processes among them)."""
        yield from (p for p in _children(self.tmp) if p.is_dir())


def owner_pid(path: Path) -> int | None:
    """The pid a work dir or removal-in-progress name carries (see the names above), if any."""
    parts = path.name.split("-")
    numbers = [p for p in parts[-2:] if p.isdigit()]
    if not numbers:
        return None
    # `<tag>-<pid>-<ns>` ends with a clock in nanoseconds, far above any pid; `<name>-<pid>`
    # ends with the pid.
    last = int(numbers[-1])
    if last > _PID_MAX and len(numbers) == 2:
        return int(numbers[0])
    return last if last <= _PID_MAX else None


def env_name(fingerprint: str) -> str:
    """The env directory's name for a fingerprint."""
    return fingerprint[:ENV_NAME_LENGTH]


def _children(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except OSError:  # not created yet, or removed meanwhile: nothing to list
        return []
