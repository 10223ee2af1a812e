"""Enforce the model signature on input and params as MLflow's pyfunc does: safe casts only."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from .failure import Failure, optional
from .inputs import array_of
from .protocol import COLUMN_DTYPES, INVALID_PARAMETER_VALUE
from .request import is_column_signature, signature_of


def enforce(data: Any, params: Any, request: dict[str, Any], warnings: list[str]) -> Any:
    """Apply the model signature to input and params as MLflow's pyfunc does; (data, params)."""
    if not request.get("enforce_signature", True):
        return data, params
    inputs, param_specs = signature_of(request)
    try:
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
    except Failure as exc:
        # Input that parsed but does not fit is an invalid value to MLflow, not a bad request.
        exc.code = INVALID_PARAMETER_VALUE
        raise
    return data, params


def _enforce_inputs(data: Any, inputs: list[dict[str, Any]], warnings: list[str]) -> Any:
    if not is_column_signature(inputs):
        np = optional("numpy")
        if np is None:
            warnings.append("tensor signature not enforced: numpy is not installed")
            return data
        return _enforce_tensors(np, data, inputs, warnings)
    pd = optional("pandas")
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
    np = optional("numpy")
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
        extra={"column": name if isinstance(name, str) else str(name)},
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
            data = array_of(np, data)
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
            value = array_of(np, value.tolist())
        result[spec["name"]] = _check_tensor(np, spec["name"], value, spec)
    return result


def _check_tensor(np: Any, name: Any, value: Any, spec: dict[str, Any]) -> Any:
    tensor = spec.get("tensor-spec") or {}
    dtype = np.dtype(tensor.get("dtype", "object"))
    shape = list(tensor.get("shape") or [])
    label = f"input {name!r}" if name else "the input"
    if not isinstance(value, np.ndarray):
        value = array_of(np, value)
    if dtype.kind == "O" and shape == [-1]:
        return value  # MLflow's spelling for "any ragged input"
    if value.dtype != dtype:
        integral = value.dtype.kind in "iu" and dtype.kind in "iu"
        unsafe = not integral and (
            not np.can_cast(value.dtype, dtype, "same_kind")
            or (value.dtype.kind in "fc" and dtype.kind in "iub")
        )
        if integral and value.size:
            # JSON numbers arrive as int64; MLflow's scoring server builds the array with the
            # signature's dtype (uint8 and the like), so any integer type takes values it can hold.
            limits = np.iinfo(dtype)
            unsafe = bool(value.min() < limits.min or value.max() > limits.max)
        if value.dtype.kind in "iu" and dtype.kind == "b":
            unsafe = not bool(np.isin(value, (0, 1)).all())  # 0/1 are booleans, as in columns
        if unsafe:
            raise Failure(
                "input",
                f"{label} has dtype {value.dtype}; the model signature declares {dtype} and it "
                "cannot be converted without losing information",
            )
        value = value.astype(dtype)
    fits = len(shape) == value.ndim and all(
        want in (-1, got)
        for want, got in zip(shape, value.shape)
    )
    if not fits:
        raise Failure(
            "input",
            f"{label} has shape {tuple(value.shape)}; the model signature declares "
            f"{tuple(shape)} (-1 = any size)",
        )
    return value


