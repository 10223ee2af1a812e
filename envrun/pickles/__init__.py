"""What a model's pickles import and call, read without unpickling them."""

from __future__ import annotations

from envrun.pickles.preflight import (
    Preflight,
    PreflightFinding,
    modules_provided_by,
    preflight,
    preflight_model,
)
from envrun.pickles.scan import PickleInfo, scan_pickle

__all__ = [
    "PickleInfo",
    "Preflight",
    "PreflightFinding",
    "modules_provided_by",
    "preflight",
    "preflight_model",
    "scan_pickle",
]
