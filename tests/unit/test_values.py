"""Round trips through the worker's encoder and the host's decoder, and their renderings."""

from __future__ import annotations

import datetime
import decimal
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from envrun.errors import BridgeError
from envrun.run.values import (
    Frame,
    IndexValue,
    Opaque,
    SeriesValue,
    decode,
    summarize,
    to_jsonable,
)
from envrun.run.worker.encoding import Encoder

try:
    import pandas as pd
except ImportError:  # pragma: no cover - pandas is optional on the host
    pd = None

needs_pandas = pytest.mark.skipif(pd is None, reason="pandas is not installed on the host")


def encode(value: Any, out_dir: Path) -> dict[str, Any]:
    """Encode as the worker does, and pass the tree through JSON as the bridge does."""
    tree = Encoder(out_dir).encode(value)
    return json.loads(json.dumps(tree, allow_nan=False))


def roundtrip(value: Any, out_dir: Path, **options: Any) -> Any:
    return decode(encode(value, out_dir), out_dir, **options)


def _missing(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, np.generic) and value.dtype.kind in "fcmM":
        return bool(np.isnat(value) if value.dtype.kind in "mM" else np.isnan(value))
    return False


def same(left: Any, right: Any) -> bool:
    """Equality that treats NaN as equal to NaN and checks exact types and dtypes."""
    if type(left) is not type(right):
        return False
    if isinstance(left, np.ndarray):
        return (
            left.dtype == right.dtype
            and left.shape == right.shape
            and all(same(a, b) for a, b in zip(left.ravel(), right.ravel(), strict=True))
        )
    if isinstance(left, dict):
        left, right = list(left.items()), list(right.items())
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, np.generic) and left.dtype != right.dtype:
        return False
    return (_missing(left) and _missing(right)) or bool(left == right)


PLAIN_VALUES = [
    None,
    True,
    False,
    0,
    -(2**70),
    1.5,
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    "",
    "h\u00e9llo \u2713",
    b"",
    b"\x00\xff",
    [1, [2, [3]], ()],
    (1, "a", None),
    {"b": 1, "a": 2},
    {1: "int key", (1, 2): "tuple key", None: "none key", 2.5: "float key"},
    complex(1, -2),
    decimal.Decimal("1.10"),
    datetime.datetime(2024, 5, 1, 12, 30, 1, 123456),
    datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    datetime.date(2024, 5, 1),
    datetime.time(23, 59, 1, 5),
    datetime.timedelta(days=-1, seconds=5, microseconds=7),
]


@pytest.mark.parametrize("value", PLAIN_VALUES, ids=repr)
def test_plain_values_roundtrip(tmp_path: Path, value: Any) -> None:
    assert same(roundtrip(value, tmp_path), value)


SCALARS = [
    np.float16(0.1),
    np.float32(1.5),
    np.float32("nan"),
    np.float64("-inf"),
    np.int8(-128),
    np.uint64(2**64 - 1),
    np.int64(-(2**63)),
    np.bool_(False),
    np.complex64(complex(1.5, float("nan"))),
    np.datetime64("2024-01-01T00:00:00.000000001", "ns"),
    np.datetime64("NaT", "ns"),
    np.datetime64("2024-01-01", "D"),
    np.timedelta64(5, "ms"),
    np.str_("text"),
    np.bytes_(b"raw"),
]


@pytest.mark.parametrize("value", SCALARS, ids=lambda v: f"{v.dtype}-{v!r}")
def test_numpy_scalars_roundtrip(tmp_path: Path, value: Any) -> None:
    back = roundtrip(value, tmp_path)
    assert same(back, value)


ARRAYS = [
    np.array([1.5, np.nan, np.inf, -np.inf]),
    np.arange(12, dtype=np.int32).reshape(3, 2, 2),
    np.array([[True, False]]),
    np.array(["2024-01-01", "NaT"], dtype="datetime64[ms]"),
    np.array([1 + 2j, np.nan], dtype=np.complex128),
    np.array(3.5),
    np.zeros((0, 4), dtype=np.float32),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    np.array([["ab", "c"], ["", "def"]]),
    np.array([b"ab", b"\x00"]),
    np.zeros(3, dtype=[("x", "<i4"), ("y", "<f8")]),
]


@pytest.mark.parametrize("value", ARRAYS, ids=lambda v: f"{v.dtype}-{v.shape}")
def test_arrays_roundtrip(tmp_path: Path, value: Any) -> None:
    back = roundtrip(value, tmp_path)
    assert back.dtype == value.dtype and back.shape == value.shape
    if value.dtype.kind in "mM":  # NaT never equals NaT: compare the raw counts
        back, value = back.view("i8"), value.view("i8")
    assert np.array_equal(back, value, equal_nan=value.dtype.kind in "fc")


def test_object_arrays_keep_their_elements(tmp_path: Path) -> None:
    value = np.empty(4, dtype=object)
    value[:] = [1, "x", None, [1, 2]]
    value = value.reshape(2, 2)
    tree = encode(value, tmp_path)
    assert tree["dtype"] == "object" and "items" in tree
    back = roundtrip(value, tmp_path)
    assert back.dtype == object and back.shape == (2, 2)
    assert back.tolist() == [[1, "x"], [None, [1, 2]]]


def test_numeric_arrays_go_to_side_files(tmp_path: Path) -> None:
    tree = encode({"a": np.ones(3), "b": [np.zeros(2)]}, tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["out-0.npy", "out-1.npy"]
    assert tree["items"][0][1] == {
        "kind": "ndarray",
        "dtype": "<f8",
        "shape": [3],
        "file": "out-0.npy",
    }


def test_self_containing_list_is_kept_as_repr(tmp_path: Path) -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    back = roundtrip(loop, tmp_path)
    assert back[0] == 1 and isinstance(back[1], Opaque) and back[1].repr == "[1, [...]]"


class Custom:
    def __repr__(self) -> str:
        return "Custom()"


def test_unknown_objects_become_opaque(tmp_path: Path) -> None:
    back = roundtrip(Custom(), tmp_path)
    assert back == Opaque(f"{Custom.__module__}.Custom", "Custom()")


# ---------------------------------------------------------------- pandas


@needs_pandas
def test_dataframe_roundtrip_with_many_dtypes(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "f": [0.5, np.nan, np.inf],
            "s": ["x", None, "z"],
            "o": pd.Series([1, "two", None], dtype=object),
            "i": pd.array([1, None, 3], dtype="Int64"),
            "b": [True, False, True],
            "c": pd.Categorical(["lo", "hi", None], categories=["lo", "hi"], ordered=True),
            "t": pd.to_datetime(["2024-01-01", None, "2024-01-03"]).tz_localize("UTC"),
            "d": pd.to_timedelta([1, 2, 3], unit="s"),
        },
        index=pd.Index([10, 20, 30], name="id"),
    )
    back = roundtrip(frame, tmp_path)
    pd.testing.assert_frame_equal(back, frame)


@needs_pandas
def test_dataframe_column_shapes_survive(tmp_path: Path) -> None:
    duplicated = pd.DataFrame([[1, 2.5]], columns=["a", "a"])
    pd.testing.assert_frame_equal(roundtrip(duplicated, tmp_path), duplicated)
    multi = pd.DataFrame(
        [[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")], names=["l1", "l2"])
    )
    pd.testing.assert_frame_equal(roundtrip(multi, tmp_path), multi)
    numbered = pd.DataFrame([[1, 2]]).rename_axis(columns="cols")
    pd.testing.assert_frame_equal(roundtrip(numbered, tmp_path), numbered)
    empty = pd.DataFrame()
    pd.testing.assert_frame_equal(roundtrip(empty, tmp_path), empty)
    rows_only = pd.DataFrame({"a": [1, 2, 3]}, index=[5, 6, 7])[[]]
    pd.testing.assert_frame_equal(
        roundtrip(rows_only, tmp_path), rows_only, check_column_type=False
    )


@needs_pandas
def test_multiindex_rows(tmp_path: Path) -> None:
    index = pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
    frame = pd.DataFrame({"v": [1.0, 2.0]}, index=index)
    pd.testing.assert_frame_equal(roundtrip(frame, tmp_path), frame)


@needs_pandas
def test_series_and_index_roundtrip(tmp_path: Path) -> None:
    series = pd.Series([0.1, None], name="proba", index=pd.Index(["r1", "r2"], name="row"))
    pd.testing.assert_series_equal(roundtrip(series, tmp_path), series)
    categories = pd.Series(pd.Categorical(["b", "a"]), name=("tuple", "name"))
    pd.testing.assert_series_equal(roundtrip(categories, tmp_path), categories)
    index = pd.DatetimeIndex(["2024-01-01", "2024-01-02"], name="day")
    pd.testing.assert_index_equal(roundtrip(index, tmp_path), index)
    ranged = pd.RangeIndex(2, 20, 3, name="r")
    pd.testing.assert_index_equal(roundtrip(ranged, tmp_path), ranged, exact=True)


@needs_pandas
def test_pandas_scalars(tmp_path: Path) -> None:
    values = [pd.Timestamp("2024-01-01 00:00:00.000000001", tz="UTC"), pd.NaT, pd.NA]
    back = roundtrip(values, tmp_path)
    assert back[0] == values[0] and back[1] is pd.NaT and back[2] is pd.NA
    assert roundtrip(pd.Timedelta(7, unit="ns"), tmp_path) == pd.Timedelta(7, unit="ns")


@needs_pandas
def test_dataframe_without_pandas_on_the_host(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"label": ["x", "y"], "proba": [0.25, np.nan], "c": pd.Categorical(["u", None])}
    )
    tree = encode(frame, tmp_path)
    back = decode(tree, tmp_path, use_pandas=False)
    assert isinstance(back, Frame)
    assert back.columns == ("label", "proba", "c")
    assert back.dtypes == ("str" if pd.__version__ >= "3" else "object", "float64", "category")
    assert isinstance(back.index, IndexValue) and back.index.values == range(2)
    assert back.data["label"].tolist() == ["x", "y"]
    assert same(back.data["proba"], np.array([0.25, np.nan]))
    assert back.data["c"].tolist() == ["u", None]
    series = decode(encode(frame["proba"], tmp_path), tmp_path, use_pandas=False)
    assert isinstance(series, SeriesValue) and series.name == "proba"
    assert series.dtype == "float64"


# ---------------------------------------------------------------- protocol errors


@pytest.mark.parametrize(
    "tree",
    [
        {"kind": "mystery"},
        {"kind": "ndarray", "dtype": "<f8", "shape": [1], "file": "../escape.npy"},
        {"kind": "ndarray", "dtype": "<f8", "shape": [1], "file": "absent.npy"},
        {"kind": "float", "value": "huge"},
        {"kind": "list"},
        {"kind": "date", "iso": "yesterday"},
        {"kind": "decimal", "value": "one"},
        {"kind": "npscalar", "dtype": "not-a-dtype", "value": 1},
        {"kind": "dict", "items": [[{"kind": "list", "items": []}, {"kind": "none"}]]},
        "not a tree",
    ],
)
def test_malformed_trees_raise_bridge_errors(tmp_path: Path, tree: Any) -> None:
    with pytest.raises(BridgeError):
        decode(tree, tmp_path)


def test_array_file_with_a_different_shape(tmp_path: Path) -> None:
    np.save(tmp_path / "out-0.npy", np.zeros(3))
    tree = {"kind": "ndarray", "dtype": "<f8", "shape": [4], "file": "out-0.npy"}
    with pytest.raises(BridgeError, match="shape"):
        decode(tree, tmp_path)


def test_pickled_array_files_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "out-0.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    tree = {"kind": "ndarray", "dtype": "object", "shape": [1], "file": "out-0.npy"}
    with pytest.raises(BridgeError):
        decode(tree, tmp_path)


# ---------------------------------------------------------------- JSON and summaries


def test_to_jsonable(tmp_path: Path) -> None:
    value = {
        "arr": np.array([[1.0, np.nan], [np.inf, -np.inf]]),
        "when": np.array(["2024-01-01", "NaT"], dtype="datetime64[s]"),
        1: b"\x00",
        "scalar": np.float32(2.5),
        "tuple": (1, float("nan")),
        "strings": np.array(["a", "b"]),
        "objects": np.array([None, 1.5, "x"], dtype=object),
        "other": Custom(),
    }
    plain = to_jsonable(encode(value, tmp_path), tmp_path)
    assert plain == {
        "arr": [[1.0, "NaN"], ["Infinity", "-Infinity"]],
        "when": ["2024-01-01T00:00:00", None],
        "1": "AA==",
        "scalar": 2.5,
        "tuple": [1, "NaN"],
        "strings": ["a", "b"],
        "objects": [None, 1.5, "x"],
        "other": {"type": f"{Custom.__module__}.Custom", "repr": "Custom()"},
    }
    json.dumps(plain, allow_nan=False)


@needs_pandas
def test_to_jsonable_dataframe(tmp_path: Path) -> None:
    frame = pd.DataFrame({"label": ["x", None], "proba": [0.5, np.nan]}, index=[7, 8])
    plain = to_jsonable(encode(frame, tmp_path), tmp_path)
    assert plain == {
        "columns": ["label", "proba"],
        "index": [7, 8],
        "data": [["x", 0.5], ["NaN", "NaN"]],
    }
    series = to_jsonable(encode(frame["proba"], tmp_path), tmp_path)
    assert series == {"name": "proba", "index": [7, 8], "data": [0.5, "NaN"]}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (np.zeros((3, 2)), "ndarray float64 (3, 2)"),
        (np.array(["a"]), "ndarray <U1 (1,)"),
        (np.array([None]), "ndarray object (1,)"),
        (np.array(["2024-01-01"], dtype="datetime64[ns]"), "ndarray datetime64[ns] (1,)"),
        ({"a": 1, "b": 2, "c": 3}, "dict with 3 keys"),
        ([1], "list of 1 item"),
        ((1, 2), "tuple of 2 items"),
        (np.float32(1.5), "float32 scalar 1.5"),
        ("hello", "str (5 chars)"),
        (b"abc", "bytes (3 bytes)"),
        (None, "None"),
        (2.5, "float 2.5"),
        (Custom(), f"{Custom.__module__}.Custom (repr only, lossy)"),
    ],
)
def test_summarize(tmp_path: Path, value: Any, text: str) -> None:
    assert summarize(encode(value, tmp_path)) == text


@needs_pandas
def test_summarize_pandas(tmp_path: Path) -> None:
    frame = pd.DataFrame({"label": pd.Series(["a", "b", "c"], dtype=object), "proba": [0.1] * 3})
    assert (
        summarize(encode(frame, tmp_path)) == "DataFrame 3\u00d72 [label: object, proba: float64]"
    )
    wide = pd.DataFrame([list(range(10))])
    assert summarize(encode(wide, tmp_path)).endswith("7: int64, \u2026 +2 more]")
    series = pd.Series([1.0, 2.0], name="proba")
    assert summarize(encode(series, tmp_path)) == "Series float64 (2,) name='proba'"
