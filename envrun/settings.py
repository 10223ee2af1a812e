"""Frozen run settings, resolved once from flags, environment variables and defaults."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from envrun.errors import EnvrunError

INSTALLERS = ("uv", "pip")
# Where torch tensors load: "auto" maps them to the CPU when the host has no CUDA, "cpu" always.
DEVICES = ("auto", "cpu")
AS_OF_WORDS = ("created", "now")
_AS_OF_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_AS_OF_STAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?\s*([Zz]|[+-]\d{2}:?\d{2})?"
)

# Variables that would let the host's Python setup leak into a child interpreter or installer.
SCRUBBED_VARS = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONNOUSERSITE",
    "PYTHONUSERBASE",
    "PYTHONEXECUTABLE",
    "PYTHONSAFEPATH",
    "PYTHONDONTWRITEBYTECODE",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "__PYVENV_LAUNCHER__",
    "PIP_REQUIRE_VIRTUALENV",
    "PIP_USER",
    "PIP_TARGET",
    "PIP_PREFIX",
    "UV_SYSTEM_PYTHON",
    "UV_PYTHON",
    "UV_PROJECT_ENVIRONMENT",
)


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
    # Which day unpinned requirements resolve as of: "created" (the model's), "now", or a time.
    as_of: Choice = Choice("created", "default")
    # Install exact pins as declared, without resolving their dependencies (as pip once did).
    exact_pins: bool = False
    device: str = "auto"
    # ENVRUN_CACHE_MAX_SIZE in bytes: after a build, least recently used envs not in use go.
    cache_max_size: int | None = None

    def child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The whole environment of a child process (installer, interpreter probe, worker)."""
        return scrubbed_env(self.environ, extra)


def scrubbed_env(
    environ: Mapping[str, str], extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`environ` without the variables that leak Python state, no user site, plus `extra`."""
    env = {k: v for k, v in environ.items() if k not in SCRUBBED_VARS}
    env["PYTHONNOUSERSITE"] = "1"
    if extra:
        env.update(extra)
    return env


def default_cache_dir(environ: Mapping[str, str]) -> Choice:
    """ENVRUN_CACHE_DIR if set, else the platform's user cache directory."""
    env_value = environ.get("ENVRUN_CACHE_DIR")
    if env_value:
        return Choice(str(Path(env_value).expanduser()), "ENVRUN_CACHE_DIR")
    from platformdirs import user_cache_dir

    return Choice(user_cache_dir("envrun", appauthor=False), "platform default")


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def parse_size(text: str, *, source: str) -> int:
    """Bytes from "20G", "512M", "1.5GiB", "1000" (binary units, as du -h prints them)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise EnvrunError(
            f"cannot read the size given by {source}",
            value=text,
            fix="write a number of bytes with an optional unit K, M, G, T or P (e.g. 20G)",
        )
    number, unit, _ = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def choose_cache_max_size(environ: Mapping[str, str]) -> int | None:
    """ENVRUN_CACHE_MAX_SIZE in bytes, or None when it is unset or empty."""
    value = environ.get("ENVRUN_CACHE_MAX_SIZE", "").strip()
    return parse_size(value, source="ENVRUN_CACHE_MAX_SIZE") if value else None


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


def parse_as_of_time(text: str) -> dt.datetime | None:
    """The UTC cutoff a date (that whole day included) or an ISO datetime means; None if neither.

    A datetime without a zone is UTC, as MLflow's `utc_time_created` is.
    """
    value = text.strip()
    try:
        if _AS_OF_DATE.fullmatch(value):
            day = dt.date.fromisoformat(value) + dt.timedelta(days=1)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        match = _AS_OF_STAMP.fullmatch(value)
        if match is None:
            return None
        date_text, clock, fraction, zone = match.groups()
        clock = clock if clock.count(":") == 2 else clock + ":00"
        micro = (fraction or ".0")[1:7].ljust(6, "0")  # fromisoformat on 3.10 wants 6 digits
        offset = "+00:00" if not zone or zone.upper() == "Z" else zone
        if len(offset) == 5:  # +0200
            offset = offset[:3] + ":" + offset[3:]
        stamp = dt.datetime.fromisoformat(f"{date_text}T{clock}.{micro}{offset}")
        return stamp.astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        return None


def choose_as_of(flag: str | None, environ: Mapping[str, str]) -> Choice:
    """Pick the resolution day: --as-of flag > ENVRUN_AS_OF > "created" (the model's day)."""
    if flag:
        value, reason = flag, "--as-of flag"
    elif environ.get("ENVRUN_AS_OF"):
        value, reason = environ["ENVRUN_AS_OF"], "ENVRUN_AS_OF environment variable"
    else:
        value, reason = "created", "default"
    value = value.strip()
    if value.lower() in AS_OF_WORDS:
        return Choice(value.lower(), reason)
    if parse_as_of_time(value) is None:
        raise EnvrunError(
            f"cannot read the as-of value (from {reason})",
            value=value,
            fix="use created, now, a date such as 2023-01-02 (that UTC day included) "
            "or an ISO datetime such as 2023-01-02T10:00:00Z",
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
    as_of: str | None = None,
    exact_pins: bool = False,
    device: str | None = None,
) -> Settings:
    """Build Settings with the documented precedence (flag > environment variable > default)."""
    env = dict(os.environ if environ is None else environ)
    if device is not None and device not in DEVICES:
        raise EnvrunError("unknown device", value=device, fix=f"use one of: {', '.join(DEVICES)}")
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
        as_of=choose_as_of(as_of, env),
        exact_pins=exact_pins,
        device=device or "auto",
        cache_max_size=choose_cache_max_size(env),
    )
