"""What the server is told (workers, timeout, body limit), and the check for its extra."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from envrun.errors import EnvrunError

EXTRA = "pip install 'envrun[serve]'"
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
          "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3}  # fmt: skip


@dataclass(frozen=True)
class ServeOptions:
    """How the server runs: worker count, per-request timeout (s), body limit (bytes)."""

    workers: int = 1
    timeout: float | None = 60.0  # MLflow's default request timeout
    max_body_size: int = 100 * 1024 * 1024
    version: str = ""  # answered by /version when the model's env has no mlflow


def parse_size(text: str) -> int:
    """Bytes from "1048576", "512k", "100M" or "1G" (binary units); ValueError otherwise."""
    cleaned = text.strip().lower()
    number = cleaned.rstrip("kmgib")
    unit = cleaned[len(number) :]
    if unit not in _UNITS or not number.replace(".", "", 1).isdigit():
        raise ValueError(f"not a size: {text!r}")
    size = int(float(number) * _UNITS[unit])
    if size < 1:
        raise ValueError(f"not a size: {text!r}")
    return size


def require_extra() -> None:
    """Raise an error naming the `serve` extra when starlette or uvicorn is missing."""
    missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise EnvrunError(
            "envrun serve needs the optional HTTP stack, which is not installed",
            value=", ".join(missing),
            fix=f"install it with: {EXTRA}",
        )
