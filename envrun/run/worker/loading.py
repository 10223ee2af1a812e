"""Load a model as MLflow's python_function flavor does, call its predict, describe the env."""

from __future__ import annotations

import importlib
import inspect
import platform
import sys
import sysconfig
from pathlib import Path
from typing import Any

from .devices import CpuDefault
from .failure import Failure, qualname


def _missing_module_message(loader: str, exc: ModuleNotFoundError) -> str:
    missing = exc.name or ""
    if missing and (loader == missing or loader.startswith(missing + ".")):
        return (
            f"cannot import the model's loader module {loader!r}: {missing!r} is not installed "
            f"in the environment at {sys.prefix}"
        )
    if missing:
        return (
            f"the model's loader module {loader!r} imports {missing!r}, which is not installed "
            f"in the environment at {sys.prefix}"
        )
    return f"cannot import the model's loader module {loader!r}: {exc}"


def load_model(spec: dict[str, Any], warnings: list[str]) -> Any:
    """Load the model as MLflow's python_function flavor does; return its predict callable."""
    model_dir = Path(spec["dir"])
    if spec.get("code"):
        sys.path.insert(0, str(model_dir / spec["code"]))
    data_path = str(model_dir / spec["data"]) if spec.get("data") else str(model_dir)
    loader = spec["loader_module"]
    try:
        module = importlib.import_module(loader)
    except ModuleNotFoundError as exc:
        raise Failure.wrap(
            "load", exc, _missing_module_message(loader, exc), {"missing_module": exc.name or ""}
        ) from exc
    except BaseException as exc:
        _reraise_interrupt(exc)
        raise Failure.wrap(
            "load", exc, f"importing the model's loader module {loader!r} failed: {exc}"
        ) from exc
    load_pyfunc = getattr(module, "_load_pyfunc", None)
    if load_pyfunc is None:
        raise Failure("load", f"the loader module {loader!r} has no _load_pyfunc", "AttributeError")
    config = spec.get("model_config")
    try:
        with CpuDefault(str(spec.get("device") or "auto"), warnings):
            if config and _takes_two_args(load_pyfunc):
                impl = load_pyfunc(data_path, config)
            else:
                if config:
                    warnings.append(
                        f"model_config ignored: {loader}._load_pyfunc takes one argument"
                    )
                impl = load_pyfunc(data_path)
    except ModuleNotFoundError as exc:
        raise Failure.wrap(
            "load",
            exc,
            f"loading the model needs module {exc.name!r}, which is not installed in the model "
            "environment",
            {"missing_module": exc.name or ""},
        ) from exc
    except BaseException as exc:
        _reraise_interrupt(exc)
        raise Failure.wrap("load", exc) from exc
    fn_name = spec.get("predict_fn") or "predict"
    predict_fn = getattr(impl, fn_name, None)
    if not callable(predict_fn):
        raise Failure(
            "load",
            f"the loaded model ({qualname(impl)}) has no method {fn_name!r}",
            "AttributeError",
        )
    return predict_fn


def _takes_two_args(fn: Any) -> bool:
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def _reraise_interrupt(exc: BaseException) -> None:
    # The model's SystemExit is a model failure; the user's Ctrl-C is not.
    if isinstance(exc, KeyboardInterrupt):
        raise exc


def predict(predict_fn: Any, data: Any, params: Any) -> Any:
    """Call the model as MLflow's PyFuncModel does: params= only if it declares ``params``."""
    try:
        parameter = inspect.signature(predict_fn).parameters.get("params")
    except (TypeError, ValueError):
        parameter = None
    try:
        if parameter is not None and parameter.kind != parameter.VAR_KEYWORD:
            return predict_fn(data, params=params)
        return predict_fn(data)
    except BaseException as exc:
        _reraise_interrupt(exc)
        raise Failure.wrap("predict", exc) from exc




def python_info() -> dict[str, str]:
    """The interpreter this worker runs on."""
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": sysconfig.get_platform(),
    }


def installed_packages() -> dict[str, str]:
    """Every installed distribution on sys.path; the first of a name wins, as imports do."""
    from importlib import metadata

    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name not in found:
            found[name] = dist.version
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))
