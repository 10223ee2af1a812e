"""`envrun drift`: how far a model's declared env has drifted, for CI."""

from __future__ import annotations

from envrun.drift.collectors import DriftReport, ModelDrift
from envrun.drift.finding import CATEGORIES, Finding, at_or_above
from envrun.drift.formats import FORMATS, render
from envrun.drift.moved import moved_drift, moved_findings
from envrun.drift.run import drift_model, run_drift

__all__ = [
    "CATEGORIES",
    "FORMATS",
    "DriftReport",
    "Finding",
    "ModelDrift",
    "at_or_above",
    "drift_model",
    "moved_drift",
    "moved_findings",
    "render",
    "run_drift",
]
