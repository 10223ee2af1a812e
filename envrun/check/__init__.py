"""`envrun check`: does the packaged model still give the same answers? Verdicts and reports."""

from __future__ import annotations

from envrun.check.baseline import Baseline, StoredOutput, load_baseline, save_baseline
from envrun.check.compare import DEFAULT_TOLERANCES, Comparison, Tolerance, compare
from envrun.check.run import CheckInput, CheckOptions, CheckResult, model_inputs, run_check

__all__ = [
    "DEFAULT_TOLERANCES",
    "Baseline",
    "CheckInput",
    "CheckOptions",
    "CheckResult",
    "Comparison",
    "StoredOutput",
    "Tolerance",
    "compare",
    "load_baseline",
    "model_inputs",
    "run_check",
    "save_baseline",
]
