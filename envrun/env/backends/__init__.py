"""Installer backends: uv (default) and virtualenv + pip, driven through their command lines.

Every installer command line envrun runs is built in this package: env creation and installs
(uv.py, pip.py), lock resolution and index probes (the same), the pip-tools venv (piptools.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from envrun.env.backends.pip import PipBackend
from envrun.env.backends.piptools import PIP_TOOLS_VERSION, ensure_pip_tools
from envrun.env.backends.plan import InstallPlan, PinProbe, env_python
from envrun.env.backends.uv import UvBackend
from envrun.env.interpreters import Interpreter
from envrun.env.requirements import IndexOptions
from envrun.errors import SpecError
from envrun.settings import INSTALLERS, Settings

__all__ = [
    "PIP_TOOLS_VERSION",
    "Backend",
    "InstallPlan",
    "PinProbe",
    "PipBackend",
    "UvBackend",
    "ensure_pip_tools",
    "env_python",
    "get_backend",
]


class Backend(Protocol):
    """Creates a virtualenv, installs into it, and resolves requirements into locks."""

    name: str

    def version(self) -> str:
        """A string identifying the installer's version (part of the fingerprint)."""

    def create(
        self, env_dir: Path, python: str, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        """Create a virtualenv at env_dir with the given base interpreter."""

    def install(
        self, env_dir: Path, plan: InstallPlan, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        """Install the plan's packages into env_dir, compiling bytecode."""

    def list_installed(self, env_dir: Path) -> dict[str, str]:
        """Installed distributions in env_dir: canonical name -> version."""

    def lock_version(self, interpreter: Interpreter) -> str:
        """The resolver's version, for a lock's header."""

    def cache_dir(self, env_dir: Path | None = None) -> Path | None:
        """The installer's own cache directory, as it reports it; None when it has none.

        `env_dir` names an env the installer built, for installers that run from inside one.
        """

    def compile(
        self,
        requirements_in: Path,
        *,
        interpreter: Interpreter,
        index: IndexOptions,
        constraints: Sequence[str],
        exclude_newer: str | None,
        log: Path,
        on_line: Callable[[str], None],
        exempt: Sequence[str] | None = None,
        notes: list[str] | None = None,
    ) -> str:
        """Resolve requirements_in (run in its directory) into pinned lines with hashes.

        Raises CommandFailed when the resolver fails; constraint paths may be relative to it.
        With `exempt` (a tuple, maybe empty) the cutoff is applied as an env build applies it
        (env.asof): those names are spared, and packages only today's releases satisfy are
        taken from today, each noted in `notes`. None keeps the cutoff strict for everything.
        """

    def probe_pins(
        self,
        pins: Path,
        *,
        interpreter: Interpreter,
        index: IndexOptions,
        constraints: Sequence[str],
    ) -> PinProbe:
        """Ask the index whether it still serves the exact pins in `pins` (no dependencies)."""


def get_backend(name: str, settings: Settings) -> Backend:
    """The backend called `name` (uv or pip), running its commands with settings' environment."""
    if name == "uv":
        return UvBackend(settings)
    if name == "pip":
        return PipBackend(settings)
    raise SpecError("unknown installer", value=name, fix=f"use one of: {', '.join(INSTALLERS)}")
