"""A model's declared env: resolved to a spec and a fingerprint, built once, cached, locked."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from envrun.env.interpreters import Interpreter, Match, find_interpreter
from envrun.env.layout import STATE_FILE, CacheLayout
from envrun.env.pipconf import PipConfig, read_pip_config
from envrun.env.requirements import IndexOptions, ReqLine
from envrun.env.sources import resolve_spec
from envrun.env.spec import EnvSpec, fingerprint
from envrun.env.store import EnvHandle, ensure_env, read_state

if TYPE_CHECKING:
    from envrun.env.lock import (
        Lock,
        check_available,
        compile_lock,
        diff_pins,
        normalize_exclude_newer,
        read_lock,
        spec_from_lock,
        unsatisfied,
        write_lock,
    )

# Locking is loaded on first use: a warm predict never needs it and pays for every import.
_LAZY = {
    name: "envrun.env.lock"
    for name in (
        *("Lock", "check_available", "compile_lock", "diff_pins", "normalize_exclude_newer"),
        *("read_lock", "spec_from_lock", "unsatisfied", "write_lock"),
    )
}


def __getattr__(name: str) -> Any:
    """Load the lazily exported names (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "STATE_FILE",
    "CacheLayout",
    "EnvHandle",
    "EnvSpec",
    "IndexOptions",
    "Interpreter",
    "Lock",
    "Match",
    "PipConfig",
    "ReqLine",
    "check_available",
    "compile_lock",
    "diff_pins",
    "ensure_env",
    "find_interpreter",
    "fingerprint",
    "normalize_exclude_newer",
    "read_lock",
    "read_pip_config",
    "read_state",
    "resolve_spec",
    "spec_from_lock",
    "unsatisfied",
    "write_lock",
]
