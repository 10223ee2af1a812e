"""Deprecated import path: use `from envrun.drift import run_drift` (this shim goes next release)."""

from __future__ import annotations

import warnings

from envrun.drift import DriftReport, drift_model, run_drift

warnings.warn(
    "envrun.drift_run is deprecated; import run_drift from envrun.drift instead",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["DriftReport", "drift_model", "run_drift"]
