"""Name the likely cause and fix of a model load failure from the worker's traceback text.

Pure functions over text: the worker (stdlib only, inside the env) sends the traceback; the host
reads it here. The usual cause of an old model failing to load is a dependency resolved to
today's release instead of the one of the model's day.
"""

from __future__ import annotations

import re

from envrun.errors import Diagnosis

_NUMPY_ABI = (
    "numpy.dtype size changed",
    "numpy.ufunc size changed",
    "a module that was compiled using numpy 1.x cannot be run in",
    "numpy.core.multiarray failed to import",
    "_array_api not found",
    "module compiled against abi version",
    "module compiled against api version",
)
_SITE_FRAME = re.compile(r'File "[^"]*[/\\]site-packages[/\\]([A-Za-z0-9_]+)')
_NUMPY_ALIAS = re.compile(r"module 'numpy' has no attribute '(float|int|bool|object|str|complex)'")
_NO_MODULE = re.compile(r"No module named '([\w.]+)'")
_AS_OF = (
    "resolve as of the model's day (--as-of created, the default) so its dependencies match "
    "what it was saved with"
)


def diagnose_load(text: str) -> Diagnosis | None:
    """The likely cause of a load failure from its traceback and message, or None when unclear."""
    lowered = text.lower()
    if any(hint in lowered for hint in _NUMPY_ABI):
        package = _culprit(text)
        who = f"{package} was" if package else "a compiled package was"
        return Diagnosis(
            f"{who} built against another major version of numpy than the env holds "
            "(numpy binary incompatibility)",
            f"{_AS_OF}, or pin numpy to the major version {package or 'the package'} was built "
            "for (numpy<2 for packages built before mid-2024)",
        )
    alias = _NUMPY_ALIAS.search(text)
    if alias is not None:
        return Diagnosis(
            f"the model uses np.{alias.group(1)}, an alias numpy 1.24 removed",
            f"{_AS_OF}, or pin numpy<1.24",
        )
    missing = _NO_MODULE.search(text)
    if missing is not None and missing.group(1).split(".")[0] == "pkg_resources":
        return Diagnosis(
            "the model's MLflow (or another package) imports pkg_resources, which setuptools "
            "82 removed and an env made by uv does not hold unless declared",
            "declare setuptools<82 in the model's build dependencies; envrun adds it by itself "
            "for MLflow older than 2.16",
        )
    if missing is not None and missing.group(1).split(".")[0] in ("distutils", "imp"):
        return Diagnosis(
            f"the module {missing.group(1)} is gone from the Python the env runs "
            "(removed in Python 3.12)",
            "use the Python version the model declares (python_env.yaml), or add setuptools "
            "for distutils",
        )
    return None


def missing_module(text: str) -> str | None:
    """The module a ModuleNotFoundError in this text names ('sklearn.ensemble'), or None."""
    found = _NO_MODULE.search(text)
    return found.group(1) if found is not None else None


def _culprit(text: str) -> str | None:
    """The installed package whose frame is last before the error, numpy itself excluded."""
    names = [m.group(1) for m in _SITE_FRAME.finditer(text)]
    for name in reversed(names):
        if name not in ("numpy", "importlib", "mlflow"):
            return name
    return None
