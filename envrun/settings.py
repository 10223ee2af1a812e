"""Frozen run settings, resolved once from flags, environment variables and defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from envrun.errors import EnvrunError

INSTALLERS = ("uv", "pip")


class Reporter(Protocol):
    """Receives progress from long operations; the CLI renders it, the library never prints."""

    def step(self, message: str) -> None:
        """A new step began (e.g. 'installing 12 requirements with uv')."""

    def line(self, text: str) -> None:
        """One line of a tool's output, for live progress."""

    def warn(self, message: str) -> None:
        """Something the user should know that does not stop the run."""


class NullReporter:
    """Discards progress; the default for library callers."""

    def step(self, message: str) -> None:
        """Ignore a step."""

    def line(self, text: str) -> None:
        """Ignore a line."""

    def warn(self, message: str) -> None:
        """Ignore a warning."""


@dataclass(frozen=True)
class Choice:
    """A value together with where it came from, so reports can say why."""

    value: str
    reason: str


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know that is not in the model directory."""

    cache_dir: Path
    installer: Choice
    python: Path | None = None
    rebuild: bool = False
    strict: bool = False
    timeout: float | None = None
    trust_model: bool = False  # load without the pickle safety scan's refusal
    sandbox: bool = False  # run the model's worker without network, its files read-only
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    reporter: Reporter = field(default_factory=NullReporter)


def default_cache_dir(environ: Mapping[str, str]) -> Choice:
    """ENVRUN_CACHE_DIR if set, else the platform's user cache directory."""
    env_value = environ.get("ENVRUN_CACHE_DIR")
    if env_value:
        return Choice(str(Path(env_value).expanduser()), "ENVRUN_CACHE_DIR")
    from platformdirs import user_cache_dir

    return Choice(user_cache_dir("envrun", appauthor=False), "platform default")


def choose_installer(flag: str | None, environ: Mapping[str, str]) -> Choice:
    """Pick the installer: --installer flag > ENVRUN_INSTALLER > uv (the default)."""
    if flag:
        value, reason = flag, "--installer flag"
    elif environ.get("ENVRUN_INSTALLER"):
        value, reason = environ["ENVRUN_INSTALLER"], "ENVRUN_INSTALLER environment variable"
    else:
        value, reason = "uv", "default"
    value = value.strip().lower()
    if value not in INSTALLERS:
        raise EnvrunError(
            f"unknown installer {value!r} (from {reason})",
            value=value,
            fix=f"use one of: {', '.join(INSTALLERS)}",
        )
    return Choice(value, reason)


def make_settings(
    *,
    cache_dir: str | None = None,
    installer: str | None = None,
    python: str | None = None,
    rebuild: bool = False,
    strict: bool = False,
    timeout: float | None = None,
    trust_model: bool = False,
    sandbox: bool = False,
    environ: Mapping[str, str] | None = None,
    reporter: Reporter | None = None,
) -> Settings:
    """Build Settings with the documented precedence (flag > environment variable > default)."""
    env = dict(os.environ if environ is None else environ)
    cache = (
        Choice(str(Path(cache_dir).expanduser()), "--cache-dir")
        if cache_dir
        else default_cache_dir(env)
    )
    return Settings(
        cache_dir=Path(cache.value).absolute(),
        installer=choose_installer(installer, env),
        python=Path(python).expanduser() if python else None,
        rebuild=rebuild,
        strict=strict,
        timeout=timeout,
        trust_model=trust_model,
        sandbox=sandbox,
        environ=env,
        reporter=reporter or NullReporter(),
    )
