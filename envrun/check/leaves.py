"""Element-level comparison of two outputs' leaves: tolerances, per-element verdicts, errors.

This module decides, for one pair of arrays or scalars, which elements are equal, which are
within tolerance and which differ, and condenses that into an ``OutputDiff`` (counts, first and
worst differences, error histogram). ``envrun.check.compare`` walks the output trees and calls
``_leaf`` for each leaf. numpy is imported lazily, so importing this module stays cheap.
"""

from __future__ import annotations

import decimal
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from envrun.errors import EnvrunError

# torch.testing.assert_close's documented defaults; every dtype not listed compares exactly.
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "float128": (1e-7, 1e-7),
    "complex64": (1.3e-6, 1e-5),
    "complex128": (1e-7, 1e-7),
    "complex256": (1e-7, 1e-7),
    **dict.fromkeys(("bool", "int8", "int16", "int32", "int64"), (0.0, 0.0)),
    **dict.fromkeys(("uint8", "uint16", "uint32", "uint64"), (0.0, 0.0)),
}
HISTOGRAM_LABELS: tuple[str, ...] = (
    "0",
    "<1e-12",
    "1e-12..1e-9",
    "1e-9..1e-6",
    "1e-6..1e-3",
    "1e-3..1",
    ">=1",
)
HISTOGRAM_LABELS += ("nan/inf mismatch",)
_EDGES = (1e-12, 1e-9, 1e-6, 1e-3, 1.0)
OutputStatus = Literal["equal", "close", "differs"]
_RANK: dict[OutputStatus, int] = {"equal": 0, "close": 1, "differs": 2}
_FIRST = 5
_FAMILY = {"i": "int", "u": "int", "f": "float", "c": "complex", "b": "bool", "M": "datetime"}
_FAMILY |= {"m": "timedelta", "U": "text", "T": "text", "S": "bytes", "O": "object", "V": "void"}
_COMPATIBLE = (frozenset({"object", "text"}), frozenset({"object", "bytes"}))
# pandas extension dtype names, by prefix, and the numpy kind they behave like.
_PANDAS_KINDS: tuple[tuple[str, str], ...] = (
    ("Int", "i"),
    ("UInt", "u"),
    ("Float", "f"),
    ("boolean", "b"),
    ("str", "O"),
)
_PANDAS_KINDS += (("category", "O"), ("bfloat16", "f"), ("datetime64", "M"), ("timedelta64", "m"))


@dataclass(frozen=True)
class Tolerance:
    """Relative and absolute tolerance; a field left None takes the per-dtype default."""

    rtol: float | None = None
    atol: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("rtol", self.rtol), ("atol", self.atol)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise EnvrunError(
                    f"the {name} tolerance must be a finite number >= 0",
                    value=repr(value),
                    fix=f"pass a {name} such as 1e-6, or leave it unset for the per-dtype default",
                )

    def for_dtype(self, dtype_name: str) -> tuple[float, float]:
        """(rtol, atol) for one dtype: the user's value where set, else the default."""
        name = dtype_name.lower() if dtype_name[:1] in "IUF" else dtype_name  # pandas "Float32"
        rtol, atol = DEFAULT_TOLERANCES.get(name, (0.0, 0.0))
        return (rtol if self.rtol is None else self.rtol, atol if self.atol is None else self.atol)


@dataclass(frozen=True)
class Difference:
    """One element that differs beyond tolerance."""

    position: str
    left: str
    right: str
    abs_err: float | None
    rel_err: float | None

    def to_json(self) -> dict[str, Any]:
        """This difference as plain JSON-safe data."""
        return _json_fields(self)


@dataclass(frozen=True)
class OutputDiff:
    """The comparison of one leaf output: an array, a column, a scalar, a structure check."""

    path: str
    kind: str
    status: OutputStatus
    left_type: str
    right_type: str
    total: int = 0
    differing: int = 0
    not_equal: int = 0
    max_abs: float | None = None
    max_rel: float | None = None
    rtol: float | None = None
    atol: float | None = None
    first: tuple[Difference, ...] = ()
    notes: tuple[str, ...] = ()
    histogram: tuple[tuple[str, int], ...] = ()
    worst: Difference | None = None  # the difference with the largest abs error, for summaries

    def __post_init__(self) -> None:
        if self.status not in get_args(OutputStatus):  # a report read back from JSON, say
            raise ValueError(f"unknown output status {self.status!r}")

    def to_json(self) -> dict[str, Any]:
        """This output as plain JSON-safe data (infinities as "inf"/"-inf")."""
        return {**_json_fields(self), "histogram": dict(self.histogram)}


# The tree walk's state (see envrun.check.compare); it lives here because _leaf appends to `out`.
@dataclass
class _Ctx:
    tolerance: Tolerance
    left: str
    right: str
    out: list[OutputDiff] = field(default_factory=list)


def _np() -> Any:
    return importlib.import_module("numpy")


# ------------------------------------------------------------------------- leaf comparison


@dataclass
class _Elements:
    left: Any  # flat arrays, for display
    right: Any
    equal: Any  # flat bool arrays
    within: Any
    notes: list[str]
    abs_err: Any = None  # numeric only: flat float arrays, NaN where a side is not finite
    rel_err: Any = None
    finite: Any = None
    has_nan: Any = None


def _leaf(
    ctx: _Ctx,
    path: str,
    kind: str,
    pair: tuple[Any, Any],
    types: tuple[str, str],
    *,
    dtypes: tuple[str, str] | None = None,
    where: Callable[[int], str] | None = None,
    notes: list[str] | tuple[str, ...] = (),
    floor: OutputStatus = "equal",
) -> None:
    np = _np()
    left, right = (_as_computable(np, np.asarray(v)) for v in pair)
    dl, dr = dtypes or (_dtype_name(left.dtype), _dtype_name(right.dtype))
    notes = list(notes)
    if left.shape != right.shape:
        notes.insert(0, f"shape {left.shape} vs {right.shape}")
        ctx.out.append(OutputDiff(path, kind, "differs", *types, notes=tuple(notes)))
        return
    kinds = left.dtype.kind + right.dtype.kind
    if not _compatible(dl, dr):
        floor = "differs"
    tol = None
    if all(k in "iufcb" for k in kinds) and kinds != "bb":
        (rl, al), (rr, ar) = ctx.tolerance.for_dtype(dl), ctx.tolerance.for_dtype(dr)
        tol = (max(rl, rr), max(al, ar))
        loose = dl if tol == (rl, al) else dr if tol == (rr, ar) else "the looser"
        if dl != dr and floor != "differs" and (rl, al) != (rr, ar):
            notes.append(f"dtype {dl} vs {dr} (compared at {loose} tolerance)")
        el = _numeric(np, left, right, *tol)
    elif kinds[0] == kinds[1] and kinds[0] in "bUSTMm":
        el = _exact(np, left, right)
    else:
        el = _objects(np, left, right)
    if dl != dr and not any(n.startswith(f"dtype {dl} vs {dr}") for n in notes):
        notes.append(f"dtype {dl} vs {dr}")
    differing = int(el.within.size - np.count_nonzero(el.within))
    not_equal = int(el.equal.size - np.count_nonzero(el.equal))
    status: OutputStatus = "differs" if differing else "close" if not_equal else "equal"
    status = max(status, floor, key=_RANK.__getitem__)
    shape = left.shape
    position = where or (
        lambda i: "" if not shape else str([int(k) for k in np.unravel_index(i, shape)])
    )
    bad = np.flatnonzero(~el.within)
    first = tuple(_difference(el, int(i), position) for i in bad[:_FIRST])
    extra: dict[str, Any] = {"first": first, "notes": (*notes, *el.notes)}
    if el.abs_err is not None and tol is not None:
        extra |= _numbers(np, el, bad, position) | {"rtol": tol[0], "atol": tol[1]}
    elif first:
        extra["worst"] = first[0]
    counts = (int(el.equal.size), differing, not_equal)
    ctx.out.append(OutputDiff(path, kind, status, *types, *counts, **extra))


def _numbers(np: Any, el: _Elements, bad: Any, position: Callable[[int], str]) -> dict[str, Any]:
    """max_abs, max_rel, histogram and the worst difference of a numeric comparison."""
    finite = el.finite
    numbers = {
        "max_abs": float(el.abs_err[finite].max()) if finite.any() else 0.0,
        "max_rel": float(el.rel_err[finite].max()) if finite.any() else 0.0,
        "histogram": _histogram(np, el),
    }
    if bad.size:
        # An infinity beats every finite error; a NaN mismatch has no size at all.
        score = np.where(finite[bad], el.abs_err[bad], np.where(el.has_nan[bad], -1.0, np.inf))
        numbers["worst"] = _difference(el, int(bad[int(np.argmax(score))]), position)
    return numbers


def _as_computable(np: Any, array: Any) -> Any:
    # ml_dtypes' bfloat16 has numpy kind "V"; float32 holds every bfloat16 exactly.
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


def _numeric(np: Any, left: Any, right: Any, rtol: float, atol: float) -> _Elements:
    work = np.result_type(left.dtype, right.dtype, np.float64)  # no overflow in differences
    a, b = left.ravel(), right.ravel()
    wa, wb = a.astype(work, copy=False), b.astype(work, copy=False)
    with np.errstate(all="ignore"):
        nan_a, nan_b = np.isnan(wa), np.isnan(wb)
        equal = (a == b) | (nan_a & nan_b)
        finite = np.isfinite(wa) & np.isfinite(wb)
        abs_err = np.where(finite, np.abs(wa - wb), np.nan)
        magnitude = np.abs(wa)
        rel_err = np.where(magnitude > 0, abs_err / magnitude, np.where(abs_err == 0, 0.0, np.inf))
        # Exact dtypes use equality alone: float64 differences hide int64 steps above 2**53.
        exact = rtol == 0 and atol == 0
        within = equal if exact else equal | (finite & (abs_err <= atol + rtol * magnitude))
    notes = []
    if (nans := int(np.count_nonzero(nan_a & nan_b))) > 0:
        notes.append(f"NaN at the same {_plural(nans, 'position')}")
    if (infs := int(np.count_nonzero(np.isinf(wa) & equal))) > 0:
        notes.append(f"+inf/-inf match at {_plural(infs, 'position')}")
    return _Elements(a, b, equal, within, notes, abs_err, rel_err, finite, nan_a | nan_b)


def _exact(np: Any, left: Any, right: Any) -> _Elements:
    a, b = left.ravel(), right.ravel()
    equal = np.asarray(a == b, dtype=bool)
    if a.dtype.kind in "Mm":
        equal |= np.isnat(a) & np.isnat(b)
    return _Elements(a, b, equal, equal, [])


def _objects(np: Any, left: Any, right: Any) -> _Elements:
    a, b = left.ravel(), right.ravel()
    codes = np.fromiter((_same(np, x, y) for x, y in zip(a, b, strict=True)), np.int8, a.size)
    notes = []
    if (remarked := int(np.count_nonzero(codes == 1))) > 0:
        at = int(np.flatnonzero(codes == 1)[0])
        example = f"{_missing(np, a[at])} vs {_missing(np, b[at])}"
        notes.append(
            f"missing values marked differently at {_plural(remarked, 'position')} ({example})"
        )
    return _Elements(a, b, codes == 0, codes <= 1, notes)


def _same(np: Any, a: Any, b: Any) -> int:
    """0: identical, 1: both missing but marked differently (None vs NaN), 2: different."""
    missing_a, missing_b = _missing(np, a), _missing(np, b)
    if missing_a or missing_b:
        return 0 if missing_a == missing_b else 1 if missing_a and missing_b else 2
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return 2  # True == 1 in Python, but a bool for an int is a changed output
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        same = type(a) is type(b) and a.shape == b.shape and _compare_nested(np, a, b)
        return 0 if same else 2
    try:
        return 0 if bool(a == b) else 2
    except Exception:  # a user object's __eq__ may raise anything
        return 2


def _compare_nested(np: Any, a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:  # equal_nan needs numbers
        return bool(np.array_equal(a, b))


def _missing(np: Any, value: Any) -> str | None:
    if value is None:
        return "None"
    name = type(value).__name__
    if name in ("NAType", "NaTType"):
        return name[:-4]
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return "nan"
    if isinstance(value, (np.datetime64, np.timedelta64)) and np.isnat(value):
        return "NaT"
    if isinstance(value, decimal.Decimal) and value.is_nan():
        return "Decimal NaN"
    return None


def _difference(el: _Elements, i: int, position: Callable[[int], str]) -> Difference:
    abs_err: float | None = None
    rel_err: float | None = None
    if el.abs_err is not None and el.finite[i]:
        abs_err, rel_err = float(el.abs_err[i]), float(el.rel_err[i])
    elif el.abs_err is not None and not el.has_nan[i]:
        abs_err = rel_err = math.inf  # an infinity against a finite value or the other infinity
    return Difference(position(i), _text(el.left[i]), _text(el.right[i]), abs_err, rel_err)


def _histogram(np: Any, el: _Elements) -> tuple[tuple[str, int], ...]:
    unequal = ~el.equal
    finite = unequal & el.finite
    buckets = np.bincount(np.searchsorted(_EDGES, el.abs_err[finite], side="right"), minlength=6)
    counts = [int(np.count_nonzero(el.equal)), *(int(n) for n in buckets)]
    counts.append(int(np.count_nonzero(unequal & ~el.finite)))
    return tuple(zip(HISTOGRAM_LABELS, counts, strict=True))


# ------------------------------------------------------------------------- helpers


def _dtype_name(dtype: Any) -> str:
    # "<U5" says more than numpy's name "str160"; pandas extension dtypes have good names.
    if getattr(dtype, "kind", "") in ("U", "S") and isinstance(dtype, _np().dtype):
        return str(dtype)
    return str(getattr(dtype, "name", dtype))


def _kind(dtype_name: str) -> str:
    for prefix, kind in _PANDAS_KINDS:
        if dtype_name.startswith(prefix):
            return kind
    try:
        return str(_np().dtype(dtype_name).kind)
    except (TypeError, ValueError):
        return "O"  # period, interval, sparse...: compared as objects


def _compatible(left: str, right: str) -> bool:
    a, b = _FAMILY.get(_kind(left), "object"), _FAMILY.get(_kind(right), "object")
    return a == b or frozenset({a, b}) in _COMPATIBLE


def _text(value: object) -> str:
    if isinstance(value, str):
        text = repr(str(value))
    elif isinstance(value, bytes):
        text = repr(bytes(value))
    elif type(value).__module__ == "numpy":
        text = str(value)  # np.float32(0.1) prints as 0.1, not 0.10000000149011612
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _json_fields(value: Difference | OutputDiff) -> dict[str, Any]:
    return {f.name: _json(getattr(value, f.name)) for f in fields(value)}


def _json(value: Any) -> Any:
    if isinstance(value, (Difference, OutputDiff)):
        return _json_fields(value)
    if isinstance(value, tuple):
        return [_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
