"""Load an MLflow pyfunc model, predict on one input, and write the outputs to a control dir.

Runs inside the model's environment as ``python -I _worker.py CTL_DIR`` and is also imported by
the host for in-process runs (``serve``). Standard library only at import time, Python 3.8+;
numpy and pandas are imported inside functions, and only when the environment has them.
The host reads ``response.json`` (written last, atomically) and never parses stdout.

This file is self-contained on purpose: it runs as a lone script inside environments that do
not have envrun installed, so it cannot import sibling modules. For the same reason it avoids
syntax and library calls newer than Python 3.8 (no ``zip(strict=)``, no ``X | Y`` at run time).
"""

from __future__ import annotations

import base64
import datetime
import decimal
import importlib
import inspect
import json
import math
import platform
import sys
import sysconfig
import time
import traceback
from pathlib import Path
from typing import Any

PROTOCOL = 1
EXIT_OK = 0
EXIT_BAD_REQUEST = 3
EXIT_MODEL = 4
FORMAT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
SPLIT_SHAPE = '{"dataframe_split": {"columns": [...], "data": [[...], ...]}}'
# Column types of MLflow signatures and the numpy dtype each one means.
COLUMN_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}
RESPONSE_FILE = "response.json"
PREDICTIONS_FILE = "predictions.json"


class Failure(Exception):
    """A failed stage, with a message written for the user and the original traceback."""

    def __init__(
        self,
        stage: str,
        message: str,
        error_type: str = "",
        tb: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.error_type = error_type or ("RequestError" if stage == "request" else "InputError")
        self.tb = tb
        self.extra = extra or {}

    @classmethod
    def wrap(
        cls, stage: str, exc: BaseException, message: str = "", extra: dict[str, Any] | None = None
    ) -> Failure:
        """Wrap the exception being handled, keeping its full formatted traceback."""
        text = message or str(exc) or type(exc).__name__
        return cls(stage, text, type(exc).__name__, traceback.format_exc(), extra)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "stage": self.stage,
            "type": self.error_type,
            "message": self.message,
            "traceback": self.tb,
        }
        out.update(self.extra)
        return out


def _optional(name: str) -> Any:
    """Import numpy or pandas if the environment has it (a broken install counts as absent)."""
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def _need(name: str, why: str) -> Any:
    module = _optional(name)
    if module is None:
        raise Failure(
            "input",
            f"{why} needs {name}, which is not installed in the environment at {sys.prefix}; send JSON "
            f"with 'inputs' or 'instances' instead, or add {name} to the model's requirements",
            "ModuleNotFoundError",
        )
    return module


# ---------------------------------------------------------------- request and input


def read_request(ctl: Path) -> dict[str, Any]:
    """Read and check CTL_DIR/request.json."""
    path = ctl / "request.json"
    try:
        with path.open(encoding="utf-8") as handle:
            request = json.load(handle)
    except (OSError, ValueError) as exc:
        raise Failure.wrap("request", exc, f"cannot read {path}: {exc}") from exc
    if not isinstance(request, dict):
        raise Failure("request", "request.json must hold a JSON object")
    if request.get("protocol") != PROTOCOL:
        raise Failure(
            "request", f"unsupported protocol {request.get('protocol')!r}, expected {PROTOCOL}"
        )
    model, source = request.get("model"), request.get("input")
    if not isinstance(model, dict) or not model.get("dir") or not model.get("loader_module"):
        raise Failure("request", "request.model needs 'dir' and 'loader_module'")
    if not isinstance(source, dict) or not source.get("path"):
        raise Failure("request", "request.input needs 'path' and 'format'")
    if source.get("format") not in ("json", "csv", "npy", "npz"):
        raise Failure("request", f"unknown input format {source.get('format')!r}")
    if request.get("params") is not None and not isinstance(request["params"], dict):
        raise Failure("request", "request.params must be an object or null")
    signature = request.get("signature")
    if signature is not None and not isinstance(signature, dict):
        raise Failure("request", "request.signature must be an object or null")
    return request


def _signature(request: dict[str, Any]) -> tuple[list[dict[str, Any]] | None, Any]:
    signature = request.get("signature") or {}
    return signature.get("inputs") or None, signature.get("params")


def _is_column_signature(inputs: list[dict[str, Any]] | None) -> bool:
    return bool(inputs) and all(spec.get("type") != "tensor" for spec in inputs or [])


def read_input(request: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """Parse the input file the way MLflow's scoring server does; return (data, params)."""
    path, fmt = request["input"]["path"], request["input"]["format"]
    inputs = _signature(request)[0] if request.get("enforce_signature", True) else None
    try:
        if fmt == "json":
            return _read_json(Path(path), inputs)
        if fmt == "csv":
            pd = _need("pandas", "CSV input")
            # Only text columns are pinned while reading ("007" must stay a string);
            # numeric columns are cast, safely, by signature enforcement.
            text_columns = {
                spec["name"]: object
                for spec in inputs or []
                if spec.get("name") and spec.get("type") in ("string", "binary")
            }
            return pd.read_csv(path, dtype=text_columns or None), None
        np = _need("numpy", f"{fmt} input")
        if fmt == "npy":
            return np.load(path, allow_pickle=False), None
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}, None
    except Failure:
        raise
    except Exception as exc:
        raise Failure.wrap("input", exc, f"cannot read the {fmt} input {path}: {exc}") from exc


def _read_json(path: Path, inputs: list[dict[str, Any]] | None) -> tuple[Any, Any]:
    with path.open(encoding="utf-8-sig") as handle:
        doc = json.load(handle)  # NaN and Infinity tokens are accepted, as MLflow does
    if not isinstance(doc, dict):
        raise Failure(
            "input",
            f"JSON input must be an object with exactly one of {', '.join(FORMAT_KEYS)}, "
            f"got a {type(doc).__name__}; for example {SPLIT_SHAPE}",
        )
    keys = [key for key in FORMAT_KEYS if key in doc]
    if len(keys) != 1:
        raise Failure(
            "input",
            f"JSON input must have exactly one of {', '.join(FORMAT_KEYS)}; found keys "
            f"{sorted(doc)}; for example {SPLIT_SHAPE}",
        )
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise Failure("input", "'params' in the JSON input must be an object")
    key, payload = keys[0], doc[keys[0]]
    if key.startswith("dataframe_"):
        pd = _need("pandas", f"'{key}' input")
        return _frame_from_json(pd, key, payload, inputs), params
    np = _optional("numpy")
    if np is None:
        return payload, params
    if key == "instances":
        return _instances(np, payload, inputs), params
    return _inputs(np, payload, inputs), params


def _frame_from_json(pd: Any, key: str, payload: Any, inputs: list[dict[str, Any]] | None) -> Any:
    if key == "dataframe_split":
        if (
            not isinstance(payload, dict)
            or "data" not in payload
            or set(payload) - {"columns", "data", "index"}
        ):
            raise Failure(
                "input",
                "dataframe_split must be an object with 'data' and optional 'columns' and "
                f"'index', for example {SPLIT_SHAPE}",
            )
        frame = pd.DataFrame(
            index=payload.get("index"), columns=payload.get("columns"), data=payload["data"]
        )
    else:
        if not isinstance(payload, list):
            raise Failure("input", "dataframe_records must be a list of records (objects)")
        frame = pd.DataFrame(data=payload)
    for spec in inputs or []:
        name = spec.get("name")
        if spec.get("type") == "binary" and name in frame.columns:
            # JSON carries binary columns base64-encoded, as MLflow's scoring server expects.
            frame[name] = frame[name].map(_unbase64)
    return frame


def _unbase64(value: Any) -> Any:
    return base64.decodebytes(value.encode("ascii")) if isinstance(value, str) else value


def _array(np: Any, data: Any) -> Any:
    try:
        return np.array(data)
    except ValueError as exc:
        raise Failure.wrap(
            "input", exc, f"cannot make an array of the input (ragged or mixed nesting?): {exc}"
        ) from exc


def _instances(np: Any, payload: Any, inputs: list[dict[str, Any]] | None) -> Any:
    if not (isinstance(payload, list) and payload and isinstance(payload[0], dict)):
        return _inputs(np, payload, inputs)
    columns: dict[str, list[Any]] = {}
    for record in payload:
        if not isinstance(record, dict):
            raise Failure("input", "'instances' mixes objects and non-objects")
        for name, value in record.items():
            columns.setdefault(name, []).append(value)
    if len({len(values) for values in columns.values()}) > 1:
        raise Failure(
            "input",
            "the instances do not all have the same fields; each input name needs a value "
            "in every instance",
        )
    return {name: _array(np, values) for name, values in columns.items()}


def _inputs(np: Any, payload: Any, inputs: list[dict[str, Any]] | None) -> Any:
    if isinstance(payload, dict):
        return {name: _array(np, value) for name, value in payload.items()}
    if isinstance(payload, list):
        if payload and all(isinstance(item, dict) for item in payload):
            return [{name: _array(np, value) for name, value in item.items()} for item in payload]
        named = [spec["name"] for spec in inputs or [] if spec.get("name")]
        if _is_column_signature(inputs) and len(named) == 1:
            # A bare list for a one-column signature is that column, as MLflow reads it.
            return {named[0]: _array(np, payload)}
    return _array(np, payload)


# ---------------------------------------------------------------- signature enforcement


def enforce(data: Any, params: Any, request: dict[str, Any], warnings: list[str]) -> Any:
    """Apply the model signature to input and params as MLflow's pyfunc does; (data, params)."""
    if not request.get("enforce_signature", True):
        return data, params
    inputs, param_specs = _signature(request)
    params = _enforce_params(params, param_specs, warnings)
    if inputs:
        try:
            data = _enforce_inputs(data, inputs, warnings)
        except Failure:
            raise
        except Exception as exc:
            raise Failure.wrap(
                "input", exc, f"the input does not fit the signature: {exc}"
            ) from exc
    return data, params


def _enforce_inputs(data: Any, inputs: list[dict[str, Any]], warnings: list[str]) -> Any:
    if not _is_column_signature(inputs):
        np = _optional("numpy")
        if np is None:
            warnings.append("tensor signature not enforced: numpy is not installed")
            return data
        return _enforce_tensors(np, data, inputs, warnings)
    pd = _optional("pandas")
    if pd is None:
        warnings.append("column signature not enforced: pandas is not installed")
        return data
    frame = _as_frame(pd, data)
    if all(spec.get("name") for spec in inputs):
        return _enforce_named_columns(pd, frame, inputs, warnings)
    if frame.shape[1] < len(inputs):
        raise Failure(
            "input",
            f"the model signature declares {len(inputs)} unnamed columns but the input has "
            f"{frame.shape[1]}",
        )
    columns = {}
    for position, spec in enumerate(inputs):
        label = frame.columns[position]
        columns[label] = _cast_column(pd, label, frame.iloc[:, position], spec.get("type"))
    return pd.DataFrame(columns, index=frame.index)


_PARAM_TYPES = {
    "double": (float, (int, float)),
    "float": (float, (int, float)),
    "long": (int, (int,)),
    "integer": (int, (int,)),
    "boolean": (bool, (bool,)),
    "string": (str, (str,)),
}


def _enforce_params(params: Any, specs: Any, warnings: list[str]) -> Any:
    if not specs:
        if params:
            # MLflow drops params that the signature does not declare, with a warning.
            warnings.append(
                "params ignored, the model signature declares none: "
                + ", ".join(sorted(map(str, params)))
            )
            return {}
        return params
    given = dict(params or {})
    unknown = sorted(str(name) for name in given if name not in {s.get("name") for s in specs})
    if unknown:
        warnings.append("params not in the model signature ignored: " + ", ".join(unknown))
    result = {}
    for spec in specs:
        name = spec.get("name")
        value = given.get(name, spec.get("default"))
        kind = _PARAM_TYPES.get(spec.get("type"))
        if name in given and kind and spec.get("shape") is None and value is not None:
            wanted, accepted = kind
            if not isinstance(value, accepted) or (wanted is not bool and isinstance(value, bool)):
                raise Failure(
                    "input", f"param {name!r} must be of type {spec.get('type')}, got {value!r}"
                )
            value = wanted(value)
        result[name] = value
    return result


def _as_frame(pd: Any, data: Any) -> Any:
    """Turn non-DataFrame input into a DataFrame as MLflow does for column signatures."""
    np = _optional("numpy")
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return pd.DataFrame(data)

    def scalar(x: Any) -> bool:
        return x is None or (np.isscalar(x) if np is not None else isinstance(x, (str, int, float)))

    def zero_dim(x: Any) -> bool:
        return np is not None and isinstance(x, np.ndarray) and x.ndim == 0

    try:
        if scalar(data):
            return pd.DataFrame([data])
        if isinstance(data, dict):
            if all(scalar(v) or zero_dim(v) for v in data.values()):
                record = {k: v.item() if zero_dim(v) else v for k, v in data.items()}
                return pd.DataFrame([record])
            return pd.DataFrame(
                {
                    k: v.tolist() if np is not None and getattr(v, "ndim", 1) > 1 else v
                    for k, v in data.items()
                }
            )
        return pd.DataFrame(data)
    except Exception as exc:
        raise Failure.wrap(
            "input",
            exc,
            f"the model has a column-based signature but the input cannot be made into a "
            f"DataFrame: {exc}",
        ) from exc


def _enforce_named_columns(
    pd: Any, frame: Any, inputs: list[dict[str, Any]], warnings: list[str]
) -> Any:
    names = [spec["name"] for spec in inputs]
    received = [str(c) for c in frame.columns]
    missing = [
        spec["name"]
        for spec in inputs
        if spec.get("required", True) and spec["name"] not in frame.columns
    ]
    if missing:
        raise Failure(
            "input",
            f"the input is missing column(s) {missing} required by the model signature; "
            f"columns received: {received}",
        )
    extra = [c for c in received if c not in names]
    if extra:
        warnings.append(
            "input columns not in the model signature were dropped: " + ", ".join(extra)
        )
    columns = {
        spec["name"]: _cast_column(pd, spec["name"], frame[spec["name"]], spec.get("type"))
        for spec in inputs
        if spec["name"] in frame.columns
    }
    return pd.DataFrame(columns, index=frame.index)


def _refuse(name: Any, kind: str, received: Any, reason: str) -> Failure:
    return Failure(
        "input",
        f"column {name!r}: the model signature declares {kind} ({COLUMN_DTYPES[kind]}) but the "
        f"input has dtype {received}; {reason}",
    )


def _cast_column(pd: Any, name: Any, values: Any, kind: Any) -> Any:  # noqa: PLR0911 (one rule per type)
    """Convert one column to its declared type where no information is lost, else fail."""
    if not isinstance(kind, str) or kind not in COLUMN_DTYPES:
        return values  # array / object / map / any columns pass through, as in MLflow serving
    string_dtype = getattr(pd, "StringDtype", None)
    texty = values.dtype == object or (
        string_dtype is not None and isinstance(values.dtype, string_dtype)
    )
    if kind == "string":
        return values if texty else values.astype(object)
    if kind == "binary":
        if texty or values.dtype.kind == "S":
            return values
        raise _refuse(name, kind, values.dtype, "binary columns take bytes (base64 in JSON)")
    if kind == "datetime":
        if values.dtype.kind == "M" or texty:
            try:
                return pd.to_datetime(values).astype("datetime64[ns]")
            except Exception as exc:
                raise _refuse(name, kind, values.dtype, f"not naive datetimes ({exc})") from exc
        raise _refuse(name, kind, values.dtype, "datetime columns take ISO 8601 strings")
    if values.dtype == object:
        values = values.infer_objects()
    if kind == "boolean":
        if values.dtype.kind == "b" or values.dtype == object:
            return values
        if values.dtype.kind in "iu" and values.isin([0, 1]).all():
            return values.astype(bool)
        raise _refuse(name, kind, values.dtype, "only booleans (or 0/1 integers) convert")
    return _cast_numeric(name, values, kind)


def _cast_numeric(name: Any, values: Any, kind: str) -> Any:
    np = importlib.import_module("numpy")
    code = getattr(values.dtype, "kind", "O")
    target = np.dtype(COLUMN_DTYPES[kind])
    if code not in "biuf":
        raise _refuse(name, kind, values.dtype, f"only numbers convert to {kind}")
    if target.kind == "f":
        return values.astype(target)
    if code == "f":
        floats = values.to_numpy(dtype="float64", na_value=float("nan"))
        if not np.isfinite(floats).all():
            raise _refuse(
                name,
                kind,
                values.dtype,
                "integer columns cannot hold missing or infinite values; declare the column "
                "as double in the signature if values may be missing",
            )
        if not (floats == np.round(floats)).all():
            raise _refuse(name, kind, values.dtype, "the values have fractional parts")
    if len(values):
        limits = np.iinfo(target)
        if values.min() < limits.min or values.max() > limits.max:
            raise _refuse(name, kind, values.dtype, f"the values do not fit in {target}")
    return values.astype(target)


def _enforce_tensors(np: Any, data: Any, inputs: list[dict[str, Any]], warnings: list[str]) -> Any:
    pd = sys.modules.get("pandas")
    is_frame = pd is not None and isinstance(data, pd.DataFrame)
    if not all(spec.get("name") for spec in inputs):
        spec = inputs[0]
        if is_frame:
            data = data.to_numpy()
            if len(spec["tensor-spec"].get("shape") or []) == 1 and data.shape[1:] == (1,):
                data = data.ravel()
        if isinstance(data, list):
            data = _array(np, data)
        if not isinstance(data, np.ndarray):
            raise Failure(
                "input",
                "the model has an unnamed tensor signature and needs a single array, got "
                + type(data).__name__,
            )
        return _check_tensor(np, None, data, spec)
    names = [spec["name"] for spec in inputs]
    if not isinstance(data, dict) and not is_frame:
        raise Failure(
            "input",
            f"the model has a named tensor signature {names} and needs an object mapping each "
            f"name to an array, got {type(data).__name__}",
        )
    present = list(data.columns) if is_frame else list(data)
    missing = [n for n in names if n not in present]
    if missing:
        raise Failure(
            "input",
            f"the input is missing tensor(s) {missing} required by the model signature; names "
            f"received: {[str(p) for p in present]}",
        )
    extra = [str(p) for p in present if p not in names]
    if extra:
        warnings.append("inputs not in the model signature were dropped: " + ", ".join(extra))
    result = {}
    for spec in inputs:
        value = data[spec["name"]]
        if is_frame:
            value = _array(np, value.tolist())
        result[spec["name"]] = _check_tensor(np, spec["name"], value, spec)
    return result


def _check_tensor(np: Any, name: Any, value: Any, spec: dict[str, Any]) -> Any:
    tensor = spec.get("tensor-spec") or {}
    dtype = np.dtype(tensor.get("dtype", "object"))
    shape = list(tensor.get("shape") or [])
    label = f"input {name!r}" if name else "the input"
    if not isinstance(value, np.ndarray):
        value = _array(np, value)
    if dtype.kind == "O" and shape == [-1]:
        return value  # MLflow's spelling for "any ragged input"
    if value.dtype != dtype:
        unsafe = not np.can_cast(value.dtype, dtype, "same_kind") or (
            value.dtype.kind in "fc" and dtype.kind in "iub"
        )
        if not unsafe and value.size and dtype.kind in "iu" and value.dtype.kind in "iu":
            limits = np.iinfo(dtype)
            unsafe = bool(value.min() < limits.min or value.max() > limits.max)
        if unsafe:
            raise Failure(
                "input",
                f"{label} has dtype {value.dtype}; the model signature declares {dtype} and it "
                "cannot be converted without losing information",
            )
        value = value.astype(dtype)
    fits = len(shape) == value.ndim and all(
        want in (-1, got)
        for want, got in zip(shape, value.shape)  # noqa: B905 (zip(strict=) is 3.10+)
    )
    if not fits:
        raise Failure(
            "input",
            f"{label} has shape {tuple(value.shape)}; the model signature declares "
            f"{tuple(shape)} (-1 = any size)",
        )
    return value


# ---------------------------------------------------------------- load and predict


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
        if config and _takes_two_args(load_pyfunc):
            impl = load_pyfunc(data_path, config)
        else:
            if config:
                warnings.append(f"model_config ignored: {loader}._load_pyfunc takes one argument")
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
            f"the loaded model ({_qualname(impl)}) has no method {fn_name!r}",
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


# ---------------------------------------------------------------- output encoding


def _qualname(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _float(value: float) -> Any:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _scalar_tree(value: Any) -> dict[str, Any] | None:  # noqa: PLR0911 (type dispatch)
    """Trees for the plain Python scalars; None if ``value`` is not one of them."""
    if isinstance(value, bool):
        return {"kind": "bool", "value": value}
    if isinstance(value, int):
        return {"kind": "int", "value": int(value)}
    if isinstance(value, float):
        return {"kind": "float", "value": _float(float(value))}
    if isinstance(value, str):
        return {"kind": "str", "value": str.__str__(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"kind": "bytes", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, complex):
        return {"kind": "complex", "real": _float(value.real), "imag": _float(value.imag)}
    if isinstance(value, decimal.Decimal):
        return {"kind": "decimal", "value": str(value)}
    if isinstance(value, datetime.datetime):
        return {"kind": "datetime", "iso": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"kind": "date", "iso": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"kind": "time", "iso": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {
            "kind": "timedelta",
            "days": value.days,
            "seconds": value.seconds,
            "microseconds": value.microseconds,
        }
    return None


def _npscalar_value(value: Any) -> Any:  # noqa: PLR0911 (type dispatch)
    code = value.dtype.kind
    if code == "b":
        return bool(value)
    if code in "iu":
        return int(value)
    if code == "f":
        return _float(float(value))
    if code == "c":
        return [_float(float(value.real)), _float(float(value.imag))]
    if code in "mM":
        return int(value.astype("int64"))  # the raw count in the dtype's unit; NaT is min int64
    if code == "U":
        return str(value)
    if code == "S":
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(value.dtype)


class Encoder:
    """Turn a prediction into the lossless JSON tree; numeric arrays go to .npy side files."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.files = 0
        self.lossy: list[str] = []
        self._open: set[int] = set()

    def encode(self, value: Any) -> dict[str, Any]:  # noqa: PLR0911 (type dispatch)
        # A value can only be a numpy or pandas object if that library is already imported.
        np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
        if value is None:
            return {"kind": "none"}
        if np is not None and isinstance(value, np.ndarray):
            if type(value) is not np.ndarray:
                self.lossy.append(_qualname(value))
            return self.array(np, np.asarray(value))
        if np is not None and isinstance(value, np.generic):
            try:
                return {
                    "kind": "npscalar",
                    "dtype": value.dtype.str,
                    "value": _npscalar_value(value),
                }
            except TypeError:
                return self.opaque(value)
        if pd is not None:
            tree = self.pandas(pd, value)
            if tree is not None:
                return tree
        tree = _scalar_tree(value)
        if tree is not None:
            return tree
        if isinstance(value, (list, tuple, dict)):
            return self.container(value)
        return self.opaque(value)

    def container(self, value: Any) -> dict[str, Any]:
        if id(value) in self._open:
            return self.opaque(value)  # a container that holds itself
        self._open.add(id(value))
        try:
            if isinstance(value, dict):
                pairs = [[self.encode(k), self.encode(v)] for k, v in value.items()]
                return {"kind": "dict", "items": pairs}
            kind = "tuple" if isinstance(value, tuple) else "list"
            return {"kind": kind, "items": [self.encode(item) for item in value]}
        finally:
            self._open.discard(id(value))

    def opaque(self, value: Any) -> dict[str, Any]:
        self.lossy.append(_qualname(value))
        try:
            text = repr(value)
        except Exception as exc:
            text = f"<repr failed: {type(exc).__name__}>"
        return {"kind": "repr", "type": _qualname(value), "repr": text}

    def array(self, np: Any, value: Any) -> dict[str, Any]:
        dtype = value.dtype
        shape = list(value.shape)
        if dtype.kind in "biufcmM" or (dtype.kind == "V" and not dtype.hasobject):
            name = f"out-{self.files}.npy"
            self.files += 1
            np.save(str(self.out_dir / name), value, allow_pickle=False)
            text = dtype.str if dtype.fields is None else str(dtype.descr)
            return {"kind": "ndarray", "dtype": text, "shape": shape, "file": name}
        items = [self.encode(item) for item in value.ravel(order="C").tolist()]
        text = "object" if dtype.kind == "O" else dtype.str
        return {"kind": "ndarray", "dtype": text, "shape": shape, "items": items}

    def pandas(self, pd: Any, value: Any) -> dict[str, Any] | None:  # noqa: PLR0911 (type dispatch)
        if isinstance(value, pd.DataFrame):
            return self.frame(pd, value)
        if isinstance(value, pd.Series):
            return {
                "kind": "series",
                "name": self.encode(value.name),
                "dtype": str(value.dtype),
                "index": self.index(pd, value.index),
                "values": self.values(pd, value),
            }
        if isinstance(value, pd.Index):
            return self.index(pd, value)
        if value is pd.NaT or value is getattr(pd, "NA", None):
            return {"kind": "na", "which": "NaT" if value is pd.NaT else "NA"}
        if isinstance(value, pd.Timestamp):
            return {"kind": "datetime", "iso": value.isoformat(), "pandas": True}
        if isinstance(value, pd.Timedelta):
            return {"kind": "timedelta", "nanoseconds": int(value.value), "pandas": True}
        return None

    def frame(self, pd: Any, value: Any) -> dict[str, Any]:
        tree = {
            "kind": "dataframe",
            "columns": [self.encode(c) for c in value.columns],
            "dtypes": [str(t) for t in value.dtypes],
            "index": self.index(pd, value.index),
            # By position, so that duplicate column labels survive.
            "data": [self.values(pd, value.iloc[:, i]) for i in range(value.shape[1])],
        }
        if isinstance(value.columns, pd.MultiIndex):
            tree["columns_names"] = [self.encode(n) for n in value.columns.names]
        elif value.columns.name is not None:
            tree["columns_name"] = self.encode(value.columns.name)
        return tree

    def index(self, pd: Any, index: Any) -> dict[str, Any]:
        if isinstance(index, pd.RangeIndex):
            return {
                "kind": "rangeindex",
                "start": int(index.start),
                "stop": int(index.stop),
                "step": int(index.step),
                "name": self.encode(index.name),
            }
        if isinstance(index, pd.MultiIndex):
            return {
                "kind": "multiindex",
                "names": [self.encode(n) for n in index.names],
                "values": self.array(sys.modules["numpy"], index.to_numpy()),
            }
        return {
            "kind": "index",
            "dtype": str(index.dtype),
            "name": self.encode(index.name),
            "values": self.values(pd, index),
        }

    def values(self, pd: Any, column: Any) -> dict[str, Any]:
        """The values of a Series or Index: numpy-backed as they are, extension types as objects."""
        np = sys.modules["numpy"]
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            codes = column.codes if isinstance(column, pd.Index) else column.cat.codes
            return {
                "kind": "categorical",
                "ordered": bool(dtype.ordered),
                "categories": self.values(pd, dtype.categories),
                "codes": self.array(np, np.asarray(codes)),
            }
        if isinstance(dtype, np.dtype):
            return self.array(np, np.asarray(column.to_numpy()))
        return self.array(np, np.asarray(column.to_numpy(dtype=object), dtype=object))


# ---------------------------------------------------------------- MLflow-compatible JSON


def mlflow_jsonable(value: Any) -> Any:
    """What MLflow's scoring server puts under "predictions" before JSON-encoding it."""
    np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
    if np is not None and isinstance(value, np.ndarray):
        return value.tolist()
    if pd is not None and isinstance(value, pd.DataFrame):
        return value.to_dict(orient="records")
    if pd is not None and isinstance(value, pd.Series):
        return pd.DataFrame(value).to_dict(orient="records")
    return value


def _base64_lines(value: Any) -> Any:
    if isinstance(value, list):
        return [_base64_lines(item) for item in value]
    return base64.encodebytes(value).decode("ascii")


def json_default(value: Any) -> Any:  # noqa: PLR0911 (type dispatch)
    """Mirror MLflow's NumpyEncoder for the types the standard JSON encoder refuses."""
    np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
    if np is not None and isinstance(value, np.ndarray):
        if value.dtype == object:
            return [_default_or_same(item) for item in value.tolist()]
        if value.dtype.kind == "S":
            return _base64_lines(value.tolist())
        return value.tolist()
    if np is not None and isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        return _base64_lines(bytes(value))
    if isinstance(value, (datetime.date, datetime.time)) or (
        pd is not None and isinstance(value, pd.Timestamp)
    ):
        return value.isoformat()
    base_model = getattr(sys.modules.get("pydantic"), "BaseModel", None)
    if base_model is not None and isinstance(value, base_model):
        return value.model_dump()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _default_or_same(value: Any) -> Any:
    try:
        return json_default(value)
    except TypeError:
        return value


# ---------------------------------------------------------------- the run


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


def _write_json(path: Path, value: Any, **options: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(value, handle, **options)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _run(ctl: Path, response: dict[str, Any], stage: list[str]) -> None:
    timings, warnings = response["timings"], response["warnings"]
    request = read_request(ctl)
    if request.get("want_packages"):
        try:
            response["packages"] = installed_packages()
        except Exception as exc:
            warnings.append(f"could not list installed packages: {exc}")
    stage[0] = "input"
    start = time.perf_counter()
    data, json_params = read_input(request)
    params = request["params"] if request.get("params") is not None else json_params
    data, params = enforce(data, params, request, warnings)
    timings["input"] = time.perf_counter() - start

    stage[0] = "load"
    start = time.perf_counter()
    predict_fn = load_model(request["model"], warnings)
    timings["load"] = time.perf_counter() - start

    stage[0] = "predict"
    start = time.perf_counter()
    result = predict(predict_fn, data, params)
    timings["predict"] = time.perf_counter() - start

    stage[0] = "encode"
    start = time.perf_counter()
    encoder = Encoder(ctl)
    response["output"] = encoder.encode(result)
    if encoder.lossy:
        kinds = ", ".join(sorted(set(encoder.lossy)))
        warnings.append(f"output values kept only approximately (repr or plain array): {kinds}")
    try:
        body = {"predictions": mlflow_jsonable(result)}
        _write_json(ctl / PREDICTIONS_FILE, body, default=json_default)
        response["predictions_file"] = PREDICTIONS_FILE
    except Exception as exc:  # MLflow's server would fail here too; the lossless output stands
        warnings.append(f"MLflow-style predictions.json not written: {exc}")
    timings["encode"] = time.perf_counter() - start


def serve(ctl_dir: str) -> int:
    """Handle CTL_DIR/request.json, write CTL_DIR/response.json last; return the exit code."""
    ctl = Path(ctl_dir).absolute()
    response: dict[str, Any] = {
        "protocol": PROTOCOL,
        "status": "ok",
        "error": None,
        "timings": {},
        "python": python_info(),
        "packages": None,
        "warnings": [],
        "output": None,
        "predictions_file": None,
    }
    saved_path = list(sys.path)
    stage = ["request"]
    failure = None
    try:
        _run(ctl, response, stage)
    except Failure as exc:
        failure = exc
    except Exception as exc:  # anything unforeseen still ends in a response, in its stage
        failure = Failure.wrap(stage[0], exc)
    finally:
        sys.path[:] = saved_path
    code = EXIT_OK
    if failure is not None:
        response.update(status="error", error=failure.as_dict(), output=None)
        response["predictions_file"] = None
        code = EXIT_BAD_REQUEST if failure.stage in ("request", "input") else EXIT_MODEL
    try:
        _write_json(ctl / RESPONSE_FILE, response, default=repr)
    except Exception as exc:
        sys.stderr.write(f"envrun worker: cannot write response.json: {exc}\n")
        return EXIT_MODEL
    return code


def main(argv: list[str]) -> int:
    """Entry point: ``_worker.py CTL_DIR``."""
    if len(argv) != 1:
        sys.stderr.write("usage: _worker.py CTL_DIR\n")
        return 2
    return serve(argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
