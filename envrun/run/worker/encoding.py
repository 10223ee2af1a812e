"""Encode a prediction: the lossless JSON tree (numeric arrays as .npy) and MLflow's JSON form."""

from __future__ import annotations

import base64
import datetime
import decimal
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from .failure import qualname


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
    """Turn a prediction into the lossless JSON tree; numeric arrays go to .npy side files.

    Without ``out_dir`` the .npy bytes are kept in ``blobs`` (name, bytes), to be sent as frame
    attachments by the persistent worker.
    """

    def __init__(self, out_dir: Path | None = None) -> None:
        self.out_dir = out_dir
        self.blobs: list[tuple[str, bytes]] = []
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
                self.lossy.append(qualname(value))
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
        self.lossy.append(qualname(value))
        try:
            text = repr(value)
        except Exception as exc:
            text = f"<repr failed: {type(exc).__name__}>"
        return {"kind": "repr", "type": qualname(value), "repr": text}

    def array(self, np: Any, value: Any) -> dict[str, Any]:
        dtype = value.dtype
        shape = list(value.shape)
        if dtype.kind in "biufcmM" or (dtype.kind == "V" and not dtype.hasobject):
            name = f"out-{self.files}.npy"
            self.files += 1
            if self.out_dir is not None:
                np.save(str(self.out_dir / name), value, allow_pickle=False)
            else:
                buffer = io.BytesIO()
                np.save(buffer, value, allow_pickle=False)
                self.blobs.append((name, buffer.getvalue()))
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




def predictions_text(result: Any) -> str:
    """MLflow's rendering of a prediction, ``{"predictions": ...}``, as its scoring server sends it."""
    return json.dumps({"predictions": mlflow_jsonable(result)}, default=json_default)


def encode_result(
    result: Any, encoder: Encoder, warnings: list[str]
) -> tuple[dict[str, Any], str | None]:
    """(lossless tree, MLflow's JSON text or None when it cannot be rendered) of a prediction."""
    tree = encoder.encode(result)
    if encoder.lossy:
        kinds = ", ".join(sorted(set(encoder.lossy)))
        warnings.append(f"output values kept only approximately (repr or plain array): {kinds}")
    try:
        text = predictions_text(result)
    except Exception as exc:  # MLflow's server would fail here too; the lossless output stands
        warnings.append(f"MLflow-style predictions.json not written: {exc}")
        return tree, None
    return tree, text
