"""What a model's pickles import and call, read without unpickling them."""

from __future__ import annotations

from envrun.pickles.critical import CRITICAL, is_critical
from envrun.pickles.preflight import (
    Preflight,
    PreflightFinding,
    modules_provided_by,
    preflight,
    preflight_model,
)
from envrun.pickles.scan import PickleInfo, scan_pickle

__all__ = [
    "CRITICAL",
    "PickleInfo",
    "Preflight",
    "PreflightFinding",
    "is_critical",
    "modules_provided_by",
    "preflight",
    "preflight_model",
    "scan_pickle",
]
