"""Serialization-critical packages: a change of one can change what a model's pickles load.

Shared by check (which marks them in its package table) and drift (which weighs their changes
more heavily), so it lives below both.
"""

from __future__ import annotations

from packaging.utils import canonicalize_name

CRITICAL = frozenset({"cloudpickle", "scikit-learn", "numpy", "pandas", "torch", "mlflow", "skops"})


def is_critical(name: str) -> bool:
    """Whether a package is serialization-critical (mlflow-skinny counts as mlflow)."""
    canonical = canonicalize_name(name)
    return canonical in CRITICAL or canonical == "mlflow-skinny"
