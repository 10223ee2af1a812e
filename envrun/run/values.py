"""Rebuild, render and describe model outputs from the worker's encoded value tree (host side).

The tree format is written by the worker (``envrun/run/worker/encoding.py``): plain JSON where
every node has a "kind", with numeric arrays in ``.npy`` side files next to ``response.json``
(or, from the persistent worker, as frame attachments by the same names). numpy is a host
dependency; pandas is optional, and without it DataFrames and Series come back as the frozen
dataclasses defined here.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import importlib
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from envrun.errors import BridgeError

Tree = Mapping[str, Any]

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_TIMES = "\u00d7"  # the multiplication sign, as in "DataFrame 3 by 2"
_SIDE_FILE = re.compile(r"[A-Za-z0-9_.-]+\.npy")


@dataclass(frozen=True, eq=False)
class IndexValue:
    """A pandas index without pandas: ``values`` is an ndarray, or a ``range`` for a RangeIndex."""

    dtype: str
    name: object
    values: Any
    names: tuple[object, ...] | None = None  # the level names of a MultiIndex


@dataclass(frozen=True, eq=False)
class Frame:
    """A DataFrame without pandas; ``data`` maps each column label to its ndarray.

    With repeated column labels ``data`` keeps the last column of each label; ``columns``
    and ``dtypes`` keep them all.
    """

    columns: tuple[object, ...]
    dtypes: tuple[str, ...]
    index: IndexValue
    data: dict[object, Any]


@dataclass(frozen=True, eq=False)
class SeriesValue:
    """A Series without pandas."""

    name: object
    dtype: str
    index: IndexValue
    values: Any


@dataclass(frozen=True)
class Opaque:
    """A value the worker could only describe by its repr (lossy)."""

    type: str
    repr: str


def _protocol_error(what: str, value: object) -> BridgeError:
    return BridgeError(
        what,
        value=str(value),
        fix="the worker and host versions of envrun may differ; retry (each call writes a fresh control dir)",
    )


def _number(value: Any) -> Any:
    if isinstance(value, str):
        if value not in _NON_FINITE:
            raise _protocol_error("the worker sent an unknown float token", value)
        return _NON_FINITE[value]
    return value


def _pandas(use_pandas: bool | None) -> Any:
    if use_pandas is False:
        return None
    try:
        return importlib.import_module("pandas")
    except ImportError:
        if use_pandas:
            raise
        return None


def _iso_datetime(text: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        # Nanosecond timestamps: keep the microseconds Python can hold.
        return datetime.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text))


Source = Path | Mapping[str, bytes]


def side_files(tree: Tree) -> list[str]:
    """Names of the side files (.npy) an encoded tree refers to."""
    found: list[str] = []
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = node.get("file")
            if isinstance(name, str):
                found.append(name)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def read_side_files(tree: Tree, base_dir: Path) -> dict[str, bytes]:
    """The bytes of every side file of a tree, so it can be decoded after base_dir is gone."""
    files: dict[str, bytes] = {}
    for name in side_files(tree):
        if not _SIDE_FILE.fullmatch(name) or name.startswith("."):
            raise _protocol_error("the worker named an unsafe output file", name)
        try:
            files[name] = (base_dir / name).read_bytes()
        except OSError as exc:
            raise BridgeError(
                "cannot read an output array written by the worker",
                value=f"{base_dir / name}: {exc}",
                fix="the control dir may have been changed or removed during the run; retry",
            ) from None
    return files


class _Decoder:
    def __init__(self, base_dir: Source, pd: Any) -> None:
        self.base_dir = base_dir
        self.pd = pd
        self.np: Any = importlib.import_module("numpy")
        self.handlers: dict[str, Callable[[Tree], Any]] = {
            "none": lambda t: None,
            "bool": lambda t: bool(t["value"]),
            "int": lambda t: int(t["value"]),
            "float": lambda t: float(_number(t["value"])),
            "str": lambda t: str(t["value"]),
            "bytes": lambda t: base64.b64decode(t["base64"]),
            "complex": lambda t: complex(_number(t["real"]), _number(t["imag"])),
            "decimal": lambda t: decimal.Decimal(t["value"]),
            "date": lambda t: datetime.date.fromisoformat(t["iso"]),
            "time": lambda t: datetime.time.fromisoformat(t["iso"]),
            "datetime": self.datetime,
            "timedelta": self.timedelta,
            "na": self.na,
            "list": lambda t: [self.value(item) for item in t["items"]],
            "tuple": lambda t: tuple(self.value(item) for item in t["items"]),
            "dict": lambda t: {self.value(k): self.value(v) for k, v in t["items"]},
            "npscalar": self.npscalar,
            "ndarray": self.ndarray,
            "categorical": self.categorical,
            "dataframe": self.frame,
            "series": self.series,
            "index": self.index,
            "rangeindex": self.index,
            "multiindex": self.index,
            "repr": lambda t: Opaque(str(t["type"]), str(t["repr"])),
        }

    def value(self, tree: Tree) -> Any:
        kind = tree.get("kind") if isinstance(tree, Mapping) else None
        handler = self.handlers.get(str(kind))
        if handler is None:
            raise _protocol_error("the worker sent a value of unknown kind", kind)
        try:
            return handler(tree)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise _protocol_error(f"the worker sent a malformed {kind} value", exc) from exc

    def datetime(self, tree: Tree) -> Any:
        if tree.get("pandas") and self.pd is not None:
            return self.pd.Timestamp(tree["iso"])
        return _iso_datetime(tree["iso"])

    def timedelta(self, tree: Tree) -> Any:
        if "nanoseconds" in tree:
            if self.pd is not None:
                return self.pd.Timedelta(int(tree["nanoseconds"]), unit="ns")
            return datetime.timedelta(microseconds=int(tree["nanoseconds"]) // 1000)
        return datetime.timedelta(
            days=tree["days"], seconds=tree["seconds"], microseconds=tree["microseconds"]
        )

    def na(self, tree: Tree) -> Any:
        if self.pd is None:
            return None
        return self.pd.NaT if tree.get("which") == "NaT" else self.pd.NA

    def npscalar(self, tree: Tree) -> Any:
        np = self.np
        dtype = np.dtype(tree["dtype"])
        raw = tree["value"]
        if dtype.kind in "mM":
            return np.array(int(raw), dtype=np.int64).view(dtype)[()]
        if dtype.kind == "c":
            return np.array(complex(_number(raw[0]), _number(raw[1])), dtype=dtype)[()]
        if dtype.kind == "f":
            return np.array(_number(raw), dtype=dtype)[()]
        if dtype.kind == "S":
            return np.array(base64.b64decode(raw), dtype=dtype)[()]
        return np.array(raw, dtype=dtype)[()]

    def ndarray(self, tree: Tree) -> Any:
        np = self.np
        shape = tuple(int(n) for n in tree["shape"])
        if "file" in tree:
            array = self.load(str(tree["file"]))
            if array.shape != shape:
                raise _protocol_error(
                    "an output array file does not have the announced shape",
                    f"{tree['file']}: {array.shape} != {shape}",
                )
            return array
        items = [self.value(item) for item in tree["items"]]
        if tree["dtype"] == "object":
            # Filled one by one so that numpy never turns nested sequences into dimensions.
            array = np.empty(len(items), dtype=object)
            for position, item in enumerate(items):
                array[position] = item
            return array.reshape(shape)
        return np.array(items, dtype=np.dtype(tree["dtype"])).reshape(shape)

    def load(self, name: str) -> Any:
        if not _SIDE_FILE.fullmatch(name) or name.startswith("."):
            raise _protocol_error("the worker named an unsafe output file", name)
        if not isinstance(self.base_dir, Path):
            if name not in self.base_dir:
                raise _protocol_error("the worker's output refers to a missing array file", name)
            return self.np.load(io.BytesIO(self.base_dir[name]), allow_pickle=False)
        path = self.base_dir / name
        try:
            return self.np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise BridgeError(
                "cannot read an output array written by the worker",
                value=str(path),
                fix="the control dir may have been changed or removed during the run; retry",
            ) from exc

    def categorical(self, tree: Tree) -> Any:
        categories = self.plain_values(tree["categories"])
        codes = self.ndarray(tree["codes"])
        if self.pd is not None:
            return self.pd.Categorical.from_codes(
                codes, categories=self.pd.Index(categories), ordered=bool(tree["ordered"])
            )
        array = self.np.empty(len(codes), dtype=object)
        for position, code in enumerate(codes.tolist()):
            array[position] = None if code < 0 else categories[code]
        return array

    def plain_values(self, tree: Tree) -> Any:
        """The values of an index or column as an ndarray (categories stay categorical)."""
        if tree.get("kind") == "categorical" and self.pd is None:
            return self.categorical(tree)
        return self.value(tree)

    def index(self, tree: Tree) -> Any:  # noqa: PLR0911 (one way back per index kind)
        kind, pd = tree["kind"], self.pd
        name = self.value(tree["name"]) if "name" in tree else None
        if kind == "rangeindex":
            start, stop, step = int(tree["start"]), int(tree["stop"]), int(tree["step"])
            if pd is None:
                return IndexValue("int64", name, range(start, stop, step))
            return pd.RangeIndex(start, stop, step, name=name)
        values = self.plain_values(tree["values"])
        if kind == "multiindex":
            names = tuple(self.value(n) for n in tree["names"])
            if pd is None:
                return IndexValue("object", None, values, names)
            return pd.MultiIndex.from_tuples(list(values), names=list(names))
        if pd is None:
            return IndexValue(str(tree["dtype"]), name, values)
        if tree["values"].get("kind") == "categorical":
            return pd.CategoricalIndex(values, name=name)
        index = pd.Index(values, name=name, dtype=values.dtype, tupleize_cols=False)
        return self.restore_dtype(index, str(tree["dtype"]))

    def restore_dtype(self, values: Any, dtype: str) -> Any:
        """Cast a Series or Index back to the dtype it had in the model's environment."""
        if str(values.dtype) == dtype:
            return values
        try:
            target = self.pd.api.types.pandas_dtype(dtype)
        except (TypeError, ValueError):
            return values  # a dtype this pandas does not know: keep the objects as they are
        if isinstance(target, self.np.dtype) and target.kind in "OUS":
            return values  # e.g. a newer pandas' "str" read by an older one: stay object
        try:
            return values.astype(target)
        except (TypeError, ValueError):
            return values

    def column(self, tree: Tree, dtype: str, index: Any = None) -> Any:
        values = self.plain_values(tree)
        if self.pd is None:
            return values
        series = self.pd.Series(values, index=index, dtype=getattr(values, "dtype", None))
        return self.restore_dtype(series, dtype)

    def frame(self, tree: Tree) -> Any:
        labels = [self.value(label) for label in tree["columns"]]
        dtypes = [str(dtype) for dtype in tree["dtypes"]]
        index = self.index(tree["index"])
        # Columns are built by position and labelled afterwards: labels may repeat.
        columns = [
            self.column(data, dtype) for data, dtype in zip(tree["data"], dtypes, strict=True)
        ]
        if self.pd is None:
            data = dict(zip(labels, columns, strict=True))
            return Frame(tuple(labels), tuple(dtypes), index, data)
        pd = self.pd
        if columns:
            frame = pd.DataFrame(dict(enumerate(columns)))
            frame.index = index
        else:
            frame = pd.DataFrame(index=index)
        if "columns_names" in tree:
            names = [self.value(n) for n in tree["columns_names"]]
            frame.columns = pd.MultiIndex.from_tuples(labels, names=names)
        elif labels:
            name = self.value(tree["columns_name"]) if "columns_name" in tree else None
            columns = pd.Index(labels, name=name, dtype=object, tupleize_cols=False)
            frame.columns = columns.infer_objects()
        return frame

    def series(self, tree: Tree) -> Any:
        index = self.index(tree["index"])
        name = self.value(tree["name"])
        values = self.column(tree["values"], str(tree["dtype"]), index)
        if self.pd is None:
            return SeriesValue(name, str(tree["dtype"]), index, values)
        return values.rename(name)


def decode(tree: Tree, base_dir: Source, *, use_pandas: bool | None = None) -> object:
    """Rebuild the Python value the model returned; ``use_pandas=None`` means "if installed".

    ``base_dir`` is the control dir holding the side files, or their bytes by name.
    """
    source = base_dir if isinstance(base_dir, Mapping) else Path(base_dir)
    return _Decoder(source, _pandas(use_pandas)).value(tree)


def to_jsonable(tree: Tree, base_dir: Source) -> object:
    """The same value as plain JSON-safe data; non-finite floats become "NaN"/"Infinity"."""
    return _jsonable(decode(tree, base_dir, use_pandas=False))


def _jsonable_key(key: object) -> str:
    return key if isinstance(key, str) else json.dumps(_jsonable(key))


def _jsonable(value: object) -> Any:  # noqa: PLR0911 (type dispatch)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (list, tuple, range)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {_jsonable_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, complex):
        return [_jsonable(value.real), _jsonable(value.imag)]
    if isinstance(value, decimal.Decimal):
        return str(value)
    return _jsonable_structured(value)


def _jsonable_structured(value: object) -> Any:  # noqa: PLR0911 (type dispatch)
    np: Any = importlib.import_module("numpy")
    if isinstance(value, np.ndarray):
        return _jsonable_array(np, value)
    if isinstance(value, np.generic):
        return _jsonable_array(np, np.array(value))
    if isinstance(value, Frame):
        columns = [_jsonable(value.data[label]) for label in value.columns]
        rows = [list(row) for row in zip(*columns, strict=True)] if columns else []
        return {
            "columns": [_jsonable(label) for label in value.columns],
            "index": _jsonable(value.index),
            "data": rows,
        }
    if isinstance(value, SeriesValue):
        return {
            "name": _jsonable(value.name),
            "index": _jsonable(value.index),
            "data": _jsonable(value.values),
        }
    if isinstance(value, IndexValue):
        return _jsonable(value.values)
    if isinstance(value, Opaque):
        return {"type": value.type, "repr": value.repr}
    return repr(value)


def _jsonable_array(np: Any, array: Any) -> Any:
    kind = array.dtype.kind
    if kind == "M":
        text = np.datetime_as_string(array)
        return _jsonable(np.where(np.isnat(array), None, text).tolist())
    if kind == "m":
        return _jsonable(np.where(np.isnat(array), None, array.astype("int64")).tolist())
    if kind == "O":
        flat = [_jsonable(item) for item in array.ravel().tolist()]
        return _nest(flat, array.shape)
    return _jsonable(array.tolist())


def _nest(flat: list[Any], shape: tuple[int, ...]) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _dtype_name(dtype: object) -> str:
    """ "float64" for "<f8"; text dtypes keep their code ("<U5"), which says more than "str160"."""
    try:
        np: Any = importlib.import_module("numpy")
        resolved = np.dtype(str(dtype))
    except (ImportError, TypeError, ValueError):
        return str(dtype)
    return str(dtype) if resolved.kind in "USV" else str(resolved.name)


def _shape_text(shape: list[int]) -> str:
    return str(tuple(shape))


def _rows(index: Tree) -> int | None:
    if index.get("kind") == "rangeindex":
        return len(range(int(index["start"]), int(index["stop"]), int(index["step"])))
    values = index.get("values") or {}
    if values.get("kind") == "categorical":
        values = values.get("codes") or {}
    shape = values.get("shape")
    return int(shape[0]) if shape else None


def _label(tree: Tree) -> str:
    if tree.get("kind") in ("str", "int", "float", "bool"):
        return str(tree["value"])
    return summarize(tree)


def summarize(tree: Tree) -> str:  # noqa: PLR0911 (one phrase per kind)
    """A one-line description of an encoded value, for reports and the CLI."""
    kind = tree.get("kind")
    if kind == "ndarray":
        return f"ndarray {_dtype_name(tree['dtype'])} {_shape_text(tree['shape'])}"
    if kind == "dataframe":
        columns = [
            f"{_label(label)}: {dtype}"
            for label, dtype in zip(tree["columns"], tree["dtypes"], strict=False)
        ]
        if len(columns) > 8:
            columns = [*columns[:8], f"… +{len(columns) - 8} more"]
        rows = _rows(tree["index"])
        size = f"{'?' if rows is None else rows}{_TIMES}{len(tree['columns'])}"
        return f"DataFrame {size} [{', '.join(columns)}]"
    if kind == "series":
        rows = _rows(tree["index"])
        name = tree.get("name") or {"kind": "none"}
        named = "" if name.get("kind") == "none" else f" name={_label(name)!r}"
        return f"Series {tree['dtype']} ({'?' if rows is None else rows},){named}"
    if kind in ("list", "tuple"):
        count = len(tree["items"])
        return f"{kind} of {count} item{'s' if count != 1 else ''}"
    if kind == "dict":
        count = len(tree["items"])
        return f"dict with {count} key{'s' if count != 1 else ''}"
    if kind == "npscalar":
        return f"{_dtype_name(tree['dtype'])} scalar {tree['value']}"
    return _summarize_scalar(tree)


def _summarize_scalar(tree: Tree) -> str:  # noqa: PLR0911 (one phrase per kind)
    kind = tree.get("kind")
    if kind == "none":
        return "None"
    if kind == "str":
        return f"str ({len(tree['value'])} chars)"
    if kind == "bytes":
        return f"bytes ({len(base64.b64decode(tree['base64']))} bytes)"
    if kind in ("bool", "int", "float", "decimal"):
        return f"{kind} {tree['value']}"
    if kind in ("datetime", "date", "time"):
        return f"{kind} {tree['iso']}"
    if kind in ("index", "rangeindex", "multiindex"):
        rows = _rows(tree)
        return f"{'Index' if kind == 'index' else kind} of {'?' if rows is None else rows}"
    if kind == "repr":
        return f"{tree['type']} (repr only, lossy)"
    return str(kind)


class DecodedOutput:
    """For answers that carry the worker's lossless tree (`output`) and its arrays (`arrays`)."""

    output: dict[str, Any]
    arrays: dict[str, bytes]

    @cached_property
    def value(self) -> Any:
        """The model's output as Python objects (numpy arrays; pandas objects when available)."""
        return decode(self.output, self.arrays)

    @cached_property
    def summary(self) -> str:
        """One line describing the output ("ndarray float64 (4, 2)")."""
        return summarize(self.output)
