"""Typed, tolerance-aware diff of two decoded model outputs; "left" is the reference side.

This module holds the public API (``compare``, ``Comparison`` and the names re-exported from
``envrun.check.leaves``) and the walk over the output trees: frames, series, indexes, mappings,
sequences, opaque values and scalars, pairing up their leaves. Each leaf is compared element by
element in ``envrun.check.leaves``.

Values are what ``envrun.run.values.decode`` returns: numpy arrays and scalars, pandas objects
(or their pandas-free stand-ins), containers and plain Python scalars. numpy and pandas are
imported lazily so that importing this module stays cheap.
"""

from __future__ import annotations

import datetime
import decimal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from envrun.check.leaves import (
    _RANK,
    DEFAULT_TOLERANCES,
    HISTOGRAM_LABELS,
    Difference,
    OutputDiff,
    OutputStatus,
    Tolerance,
    _Ctx,
    _dtype_name,
    _leaf,
    _np,
    _plural,
    _same,
    _text,
)
from envrun.run.values import Frame, IndexValue, Opaque, SeriesValue

__all__ = [
    "DEFAULT_TOLERANCES",
    "HISTOGRAM_LABELS",
    "Comparison",
    "Difference",
    "OutputDiff",
    "OutputStatus",
    "Tolerance",
    "compare",
]


@dataclass(frozen=True)
class Comparison:
    """Every leaf comparison of two outputs, in tree order."""

    left: str
    right: str
    outputs: tuple[OutputDiff, ...]

    @property
    def status(self) -> OutputStatus:
        """The worst status of the outputs: differs > close > equal."""
        return max((o.status for o in self.outputs), key=_RANK.__getitem__, default="equal")

    @property
    def differing_outputs(self) -> tuple[OutputDiff, ...]:
        """The outputs whose status is "differs"."""
        return tuple(o for o in self.outputs if o.status == "differs")

    def to_json(self) -> dict[str, Any]:
        """The comparison as plain JSON-safe data."""
        return {
            "left": self.left,
            "right": self.right,
            "status": self.status,
            "summary": self.summary(),
            "outputs": [o.to_json() for o in self.outputs],
        }

    def summary(self) -> str:
        """One line: the verdict and its headline number."""
        count = len(self.outputs)
        if self.status == "equal":
            elements = sum(o.total for o in self.outputs)
            return f"equal ({_plural(count, 'output')}, {_plural(elements, 'element')})"
        if self.status == "close":
            numeric = [o for o in self.outputs if o.status == "close" and o.max_abs is not None]
            if numeric:
                max_abs = max(o.max_abs or 0.0 for o in numeric)
                max_rel = max(o.max_rel or 0.0 for o in numeric)
                return f"within tolerance (max abs {max_abs:.1e}, max rel {max_rel:.1e})"
            close = next(o for o in self.outputs if o.status == "close")
            return f"within tolerance; {_where(close.path)}: {(*close.notes, 'not identical')[0]}"
        bad = self.differing_outputs
        head = f"differs: {len(bad)} of {_plural(count, 'output')}"
        scored = [(o.worst.abs_err, o.path, o.worst) for o in bad if o.worst and o.worst.abs_err]
        if scored:
            abs_err, path, worst = max(scored, key=lambda item: item[0])
            return f"{head}; max abs {abs_err:.1e} at {_where(path, worst)}"
        first = bad[0]
        if first.first:
            diff = first.first[0]
            return f"{head}; at {_where(first.path, diff)}: {diff.left} vs {diff.right}"
        return f"{head}; {_where(first.path)}: {(*first.notes, first.kind)[0]}"


def compare(
    left: object,
    right: object,
    *,
    tolerance: Tolerance | None = None,
    left_name: str = "left",
    right_name: str = "right",
) -> Comparison:
    """Compare two decoded model outputs, ``left`` being the reference."""
    ctx = _Ctx(tolerance or Tolerance(), left_name, right_name)
    _walk(ctx, "", left, right)
    return Comparison(left_name, right_name, tuple(ctx.out))


# ------------------------------------------------------------------------- tree walking


@dataclass
class _Index:
    dtype: str
    names: tuple[object, ...]
    values: Any


def _category(value: object) -> str:  # noqa: PLR0911 (type dispatch)
    pd = sys.modules.get("pandas")  # a pandas value cannot exist unless pandas was imported
    if pd is not None and hasattr(pd, "DataFrame"):
        for name, kind in (("DataFrame", "frame"), ("Series", "series"), ("Index", "index")):
            if isinstance(value, getattr(pd, name)):
                return kind
        if isinstance(value, pd.api.extensions.ExtensionArray):
            return "ndarray"
        if value is pd.NA or value is pd.NaT:
            return "missing"
    for cls, kind in ((Frame, "frame"), (SeriesValue, "series"), (IndexValue, "index")):
        if isinstance(value, cls):
            return kind
    np = _np()
    if isinstance(value, np.ndarray):
        return "ndarray"
    if isinstance(value, Opaque):
        return "opaque"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "sequence"
    return _scalar_family(np, value)


def _scalar_family(np: Any, value: object) -> str:
    if value is None:
        return "none"
    families: tuple[tuple[str, type | tuple[type, ...]], ...] = (
        ("bool", (bool, np.bool_)),
        ("number", (int, float, complex, np.number)),
        ("str", str),
        ("bytes", (bytes, bytearray)),
        ("datetime", (datetime.datetime, np.datetime64)),  # before date: datetime is a date
        ("date", datetime.date),
        ("time", datetime.time),
        ("timedelta", (datetime.timedelta, np.timedelta64)),
        ("decimal", decimal.Decimal),
    )
    return next((name for name, cls in families if isinstance(value, cls)), "object")


def _walk(ctx: _Ctx, path: str, left: object, right: object) -> None:
    category = _category(left)
    if category != _category(right):
        lt, rt = _describe(left), _describe(right)
        diff = Difference("", _text(left), _text(right), None, None)
        ctx.out.append(OutputDiff(path, "type", "differs", lt, rt, 1, 1, 1, first=(diff,)))
        return
    handler = _HANDLERS.get(category, _scalar)
    handler(ctx, path, left, right)


def _mapping(ctx: _Ctx, path: str, left: Any, right: Any) -> None:
    only_left = [_text(k) for k in left if k not in right]
    only_right = [_text(k) for k in right if k not in left]
    notes = [f"keys only in {ctx.left}: {_labels(only_left)}"] if only_left else []
    notes += [f"keys only in {ctx.right}: {_labels(only_right)}"] if only_right else []
    if notes:
        types = (f"dict of {len(left)} keys", f"dict of {len(right)} keys")
        ctx.out.append(OutputDiff(path, "structure", "differs", *types, notes=tuple(notes)))
    for key in left:
        if key in right:
            _walk(ctx, f"{path}[{_text(key)}]", left[key], right[key])  # np.str_ keys too


def _sequence(ctx: _Ctx, path: str, left: Any, right: Any) -> None:
    lname, rname = type(left).__name__, type(right).__name__
    notes = [] if lname == rname else [f"{lname} vs {rname}"]
    floor: OutputStatus = (
        "close" if notes else "equal"
    )  # a list for a tuple is worth a note, not a failure
    if len(left) != len(right):
        notes.insert(0, f"length {len(left)} vs {len(right)}")
        types = (f"{lname} of {len(left)}", f"{rname} of {len(right)}")
        ctx.out.append(OutputDiff(path, "structure", "differs", *types, notes=tuple(notes)))
        return
    np = _np()
    flat_left, flat_right = _flat(np, left), _flat(np, right)
    if flat_left is not None and flat_right is not None:
        types = (
            f"{lname} {_dtype_name(flat_left.dtype)} ({len(left)},)",
            f"{rname} {_dtype_name(flat_right.dtype)} ({len(right)},)",
        )
        _leaf(ctx, path, "list", (flat_left, flat_right), types, notes=notes, floor=floor)
        return
    if notes:
        types = (f"{lname} of {len(left)}", f"{rname} of {len(right)}")
        ctx.out.append(OutputDiff(path, "structure", floor, *types, notes=tuple(notes)))
    for position, (a, b) in enumerate(zip(left, right, strict=True)):
        _walk(ctx, f"{path}[{position}]", a, b)


def _flat(np: Any, items: Any) -> Any:
    """Lists of plain numbers, strings or bools as one array: one diff reads better than many."""
    kinds = {type(item) for item in items}
    if not items or not (kinds <= {int, float} or kinds in ({str}, {bool})):
        return None
    if kinds <= {int, float}:
        if int in kinds and any(type(x) is int and not -(2**63) <= x < 2**63 for x in items):
            return None
        return np.array(items, dtype=np.float64 if float in kinds else np.int64)
    return np.array(items)


def _ndarray(ctx: _Ctx, path: str, left: Any, right: Any) -> None:
    lt, rt = (f"{_dtype_name(v.dtype)} {tuple(v.shape)}" for v in (left, right))
    dtypes = (_dtype_name(left.dtype), _dtype_name(right.dtype))
    l_arr, r_arr = (v if isinstance(v, _np().ndarray) else v.to_numpy() for v in (left, right))
    _leaf(ctx, path, "ndarray", (l_arr, r_arr), (lt, rt), dtypes=dtypes)


def _frame(ctx: _Ctx, path: str, left: Any, right: Any) -> None:
    (l_labels, l_dtypes, l_arrays, l_index) = _table(left)
    (r_labels, r_dtypes, r_arrays, r_index) = _table(right)
    # Labels may repeat: pair the n-th column of a label with the other side's n-th.
    l_keys, r_keys = _occurrences(l_labels), _occurrences(r_labels)
    l_pos, r_pos = {k: i for i, k in enumerate(l_keys)}, {k: i for i, k in enumerate(r_keys)}
    common, r_common = [k for k in l_keys if k in r_pos], [k for k in r_keys if k in l_pos]
    notes = []
    for side, keys, other in ((ctx.left, l_keys, r_pos), (ctx.right, r_keys, l_pos)):
        if only := [k for k in keys if k not in other]:
            notes.append(f"columns only in {side}: {_labels(only)}")
    if common != r_common:
        notes.append(f"column order differs: {_labels(common)} vs {_labels(r_common)}")
    if notes:
        types = (f"DataFrame {len(l_labels)} columns", f"DataFrame {len(r_labels)} columns")
        where_columns = _join(path, "columns")
        ctx.out.append(OutputDiff(where_columns, "structure", "differs", *types, notes=(*notes,)))
    rows_differ = len(l_index.values) != len(r_index.values)
    skipped = ("columns not compared: the row counts differ",) if rows_differ else ()
    _index(ctx, _join(path, "index"), l_index, r_index, skipped)
    if rows_differ:
        return
    where = _rows(l_index.values)
    for key in common:
        i, j = l_pos[key], r_pos[key]
        name = f"column {key[0]!r}" + (f" #{key[1] + 1}" if key[1] else "")
        types = (f"DataFrame column {l_dtypes[i]}", f"DataFrame column {r_dtypes[j]}")
        pair, dtypes = (l_arrays[i], r_arrays[j]), (l_dtypes[i], r_dtypes[j])
        _leaf(ctx, _join(path, name), "column", pair, types, dtypes=dtypes, where=where)


def _series(ctx: _Ctx, path: str, left: Any, right: Any) -> None:
    (l_name, l_dtype, l_values, l_index), (r_name, r_dtype, r_values, r_index) = (
        (v.name, v.dtype, v.values, v.index)
        if isinstance(v, SeriesValue)
        else (v.name, str(v.dtype), v.to_numpy(), v.index)
        for v in (left, right)
    )
    _index(ctx, _join(path, "index"), _index_parts(l_index), _index_parts(r_index))
    renamed = _same(_np(), l_name, r_name) != 0
    notes = [f"name {l_name!r} vs {r_name!r}"] if renamed else []
    types = (f"Series {l_dtype}", f"Series {r_dtype}")
    floor: OutputStatus = "differs" if renamed else "equal"
    where = _rows(_index_parts(l_index).values)
    pair, dtypes = (l_values, r_values), (l_dtype, r_dtype)
    _leaf(ctx, path, "series", pair, types, dtypes=dtypes, where=where, notes=notes, floor=floor)


def _index(ctx: _Ctx, path: str, left: _Index, right: _Index, notes: tuple[str, ...] = ()) -> None:
    floor: OutputStatus = "equal"
    if left.names != right.names:
        name_l, name_r = (repr(n[0]) if len(n) == 1 else repr(n) for n in (left.names, right.names))
        notes, floor = (*notes, f"names {name_l} vs {name_r}"), "differs"
    lt, rt = (f"Index {side.dtype} ({len(side.values)},)" for side in (left, right))
    pair, dtypes = (left.values, right.values), (left.dtype, right.dtype)
    _leaf(ctx, path, "index", pair, (lt, rt), dtypes=dtypes, where=_row, notes=notes, floor=floor)


def _row(i: int) -> str:
    return f"row {i}"


def _opaque(ctx: _Ctx, path: str, left: Opaque, right: Opaque) -> None:
    diffs = []
    if left.type != right.type:
        diffs.append(Difference("type", _text(left.type), _text(right.type), None, None))
    if left.repr != right.repr:
        diffs.append(_text_difference("repr", left.repr, right.repr))
    status: OutputStatus = "differs" if diffs else "equal"
    count = len(diffs[:1])
    types = (f"{left.type} (repr only)", f"{right.type} (repr only)")
    notes = ("compared by repr (lossy)",)
    ctx.out.append(
        OutputDiff(path, "opaque", status, *types, 1, count, count, first=(*diffs,), notes=notes)
    )


def _text_scalar(ctx: _Ctx, path: str, left: Any, right: Any) -> None:
    kind = "str" if isinstance(left, str) else "bytes"
    a, b = (str(left), str(right)) if kind == "str" else (bytes(left), bytes(right))
    first = () if a == b else (_text_difference("char" if kind == "str" else "byte", a, b),)
    notes = (f"length {len(a)} vs {len(b)}",) if len(a) != len(b) else ()
    count = len(first)
    types = (type(left).__name__, type(right).__name__)
    status: OutputStatus = "differs" if count else "equal"
    ctx.out.append(
        OutputDiff(path, kind, status, *types, 1, count, count, first=first, notes=notes)
    )


def _text_difference(unit: str, a: Any, b: Any) -> Difference:
    at = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    start = max(0, at - 10)  # a little context before the first differing character
    cut = "..." if start else ""
    return Difference(f"{unit} {at}", cut + _text(a[start:]), cut + _text(b[start:]), None, None)


def _scalar(ctx: _Ctx, path: str, left: Any, right: Any) -> None:
    np = _np()
    types = (type(left).__name__, type(right).__name__)
    numeric = _scalar_family(np, left) == "number"
    if numeric or (isinstance(left, np.generic) and isinstance(right, np.generic)):
        arrays = (_scalar_array(np, left), _scalar_array(np, right))
        _leaf(ctx, path, "scalar", arrays, types)
        return
    arrays = (np.empty((), dtype=object), np.empty((), dtype=object))
    arrays[0][()], arrays[1][()] = left, right
    notes = [f"type {types[0]} vs {types[1]}"] if types[0] != types[1] else []
    _leaf(ctx, path, "scalar", arrays, types, notes=notes, floor="close" if notes else "equal")


def _scalar_array(np: Any, value: Any) -> Any:
    # Python ints as int64 everywhere (numpy<2 on Windows would pick int32); bigger ones exactly.
    if type(value) is int:
        return np.asarray(value, dtype=np.int64 if -(2**63) <= value < 2**63 else object)
    return np.asarray(value)


_HANDLERS: dict[str, Callable[[_Ctx, str, Any, Any], None]] = {
    "frame": _frame,
    "series": _series,
    "index": lambda ctx, path, a, b: _index(ctx, path, _index_parts(a), _index_parts(b)),
    "ndarray": _ndarray,
    "mapping": _mapping,
    "sequence": _sequence,
    "opaque": _opaque,
    "str": _text_scalar,
    "bytes": _text_scalar,
}


# ------------------------------------------------------------------------- helpers


def _table(value: Any) -> tuple[list[object], list[str], list[Any], _Index]:
    if isinstance(value, Frame):
        arrays = [_np().asarray(value.data[label]) for label in value.columns]
        return list(value.columns), list(value.dtypes), arrays, _index_parts(value.index)
    arrays = [value.iloc[:, i].to_numpy() for i in range(value.shape[1])]
    dtypes = [str(dtype) for dtype in value.dtypes]
    return list(value.columns), dtypes, arrays, _index_parts(value.index)


def _index_parts(index: Any) -> _Index:
    np = _np()
    if isinstance(index, IndexValue):
        values = index.values
        if isinstance(values, range):
            values = np.arange(values.start, values.stop, values.step, dtype=np.int64)
        names = index.names if index.names is not None else (index.name,)
        return _Index(index.dtype, tuple(names), np.asarray(values))
    return _Index(str(index.dtype), tuple(index.names), index.to_numpy())


def _rows(labels: Any) -> Callable[[int], str]:
    return lambda i: f"row {i} (index {_text(labels[i])})"


def _occurrences(labels: list[object]) -> list[tuple[object, int]]:
    seen: dict[object, int] = {}
    keys = []
    for label in labels:
        keys.append((label, seen.get(label, 0)))
        seen[label] = seen.get(label, 0) + 1
    return keys


def _labels(items: Any) -> str:
    texts = [
        str(item[0]) + (f" #{item[1] + 1}" if item[1] else "") if isinstance(item, tuple) else item
        for item in items
    ]
    more = f", ... (+{len(texts) - 10} more)" if len(texts) > 10 else ""
    return f"[{', '.join(texts[:10])}{more}]"


def _describe(value: object) -> str:
    if isinstance(value, Opaque):
        return f"{value.type} (repr only)"
    name = type(value).__name__
    name = {"Frame": "DataFrame", "SeriesValue": "Series", "IndexValue": "Index"}.get(name, name)
    if not isinstance(value, Frame) and hasattr(value, "dtype"):
        name += f" {_dtype_name(value.dtype)}"
    shape = getattr(value, "shape", None)
    if isinstance(value, (list, tuple, Mapping)):
        return f"{name} of {len(value)}"
    return f"{name} {shape}" if isinstance(shape, tuple) and shape else name


def _join(path: str, part: str) -> str:
    return f"{path} {part}" if path else part


def _where(path: str, diff: Difference | None = None) -> str:
    return " ".join(p for p in (path, diff.position if diff else "") if p) or "top level"
