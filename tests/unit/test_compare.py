"""The typed, tolerance-aware output comparison: statuses, counts, positions, notes, renderings."""

from __future__ import annotations

import datetime
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from envrun.check.compare import (
    DEFAULT_TOLERANCES,
    Comparison,
    OutputDiff,
    Tolerance,
    compare,
)
from envrun.errors import EnvrunError
from envrun.run.values import Frame, IndexValue, Opaque, SeriesValue, decode
from envrun.run.worker.encoding import Encoder

try:
    import pandas as pd
except ImportError:  # pragma: no cover - pandas is optional on the host
    pd = None

needs_pandas = pytest.mark.skipif(pd is None, reason="pandas is not installed on the host")


def only(comparison: Comparison) -> OutputDiff:
    assert len(comparison.outputs) == 1, comparison.outputs
    return comparison.outputs[0]


def by_path(comparison: Comparison) -> dict[str, OutputDiff]:
    return {o.path: o for o in comparison.outputs}


def buckets(diff: OutputDiff) -> dict[str, int]:
    return dict(diff.histogram)


def positions(diff: OutputDiff) -> list[str]:
    return [d.position for d in diff.first]


# ------------------------------------------------------------------------- arrays


def test_equal_arrays() -> None:
    a = np.arange(8, dtype=np.float64).reshape(4, 2)
    result = compare(a, a.copy())
    diff = only(result)
    assert (result.status, diff.kind, diff.status) == ("equal", "ndarray", "equal")
    assert (diff.total, diff.differing, diff.not_equal) == (8, 0, 0)
    assert diff.left_type == "float64 (4, 2)"
    assert (diff.max_abs, diff.max_rel) == (0.0, 0.0)
    assert (diff.rtol, diff.atol) == (1e-7, 1e-7)
    assert buckets(diff)["0"] == 8
    assert result.summary() == "equal (1 output, 8 elements)"


def test_within_default_tolerance_is_close_not_equal() -> None:
    a = np.linspace(1.0, 2.0, 6)
    diff = only(compare(a, a * (1 + 1e-9)))
    assert diff.status == "close"
    assert (diff.total, diff.differing, diff.not_equal) == (6, 0, 6)
    assert diff.max_rel is not None and 5e-10 < diff.max_rel < 2e-9
    assert diff.first == ()


def test_beyond_tolerance_counts_positions_and_worst() -> None:
    left = np.arange(8, dtype=np.float64).reshape(4, 2)
    right = left.copy()
    right[2, 1] += 0.5  # left is 5.0 there
    right[0, 1] += 1e-3  # left is 1.0 there
    right[3, 0] += 1e-9  # inside tolerance: not equal, not differing
    result = compare(left, right, left_name="env", right_name="host")
    diff = only(result)
    assert diff.status == "differs"
    assert (diff.total, diff.differing, diff.not_equal) == (8, 2, 3)
    assert diff.max_abs == pytest.approx(0.5)
    assert diff.max_rel == pytest.approx(0.1)  # 0.5 / 5.0; relative to the left (reference)
    assert positions(diff) == ["[0, 1]", "[2, 1]"]
    assert diff.first[1].left == "5.0" and diff.first[1].right == "5.5"
    assert diff.first[1].abs_err == pytest.approx(0.5)
    assert diff.first[1].rel_err == pytest.approx(0.1)
    assert diff.worst is not None and diff.worst.position == "[2, 1]"
    assert result.differing_outputs == (diff,)
    assert result.summary() == "differs: 1 of 1 output; max abs 5.0e-01 at [2, 1]"


def test_first_differences_are_capped_at_five_in_position_order() -> None:
    diff = only(compare(np.zeros(100), np.arange(100, dtype=np.float64)))
    assert diff.differing == 99
    assert positions(diff) == ["[1]", "[2]", "[3]", "[4]", "[5]"]
    assert diff.worst is not None and diff.worst.position == "[99]"


def test_nan_at_same_positions_is_equal_and_noted() -> None:
    a = np.array([1.0, np.nan, 3.0, np.nan])
    diff = only(compare(a, a.copy()))
    assert diff.status == "equal"
    assert "NaN at the same 2 positions" in diff.notes
    assert diff.max_abs == 0.0


def test_nan_against_a_number_differs_without_an_abs_error() -> None:
    diff = only(compare(np.array([1.0, 2.0, np.nan]), np.array([1.0, np.nan, 3.0])))
    assert diff.status == "differs"
    assert diff.differing == 2
    assert positions(diff) == ["[1]", "[2]"]
    assert [(d.abs_err, d.rel_err) for d in diff.first] == [(None, None), (None, None)]
    assert diff.first[0].right == "nan"
    assert buckets(diff)["nan/inf mismatch"] == 2
    assert diff.max_abs == 0.0  # finite pairs only


def test_infinities_match_by_sign() -> None:
    same = only(compare(np.array([np.inf, -np.inf, 1.0]), np.array([np.inf, -np.inf, 1.0])))
    assert same.status == "equal"
    assert "+inf/-inf match at 2 positions" in same.notes

    diff = only(compare(np.array([np.inf, 1.0, 2.0]), np.array([-np.inf, np.inf, 2.0])))
    assert diff.status == "differs"
    assert [(d.position, d.abs_err) for d in diff.first] == [("[0]", math.inf), ("[1]", math.inf)]
    assert diff.worst is not None and diff.worst.abs_err == math.inf
    assert buckets(diff)["nan/inf mismatch"] == 2


def test_float32_against_float64_compares_at_float32_tolerance() -> None:
    values = np.array([0.1, 0.2, 1 / 3])
    result = compare(values.astype(np.float32), values)
    diff = only(result)
    assert diff.status == "close"
    assert "dtype float32 vs float64 (compared at float32 tolerance)" in diff.notes
    assert (diff.rtol, diff.atol) == DEFAULT_TOLERANCES["float32"]
    assert result.summary().startswith("within tolerance (max abs ")

    beyond = only(compare(values.astype(np.float32), values * (1 + 1e-3)))
    assert beyond.status == "differs"
    assert beyond.differing == 3


def test_float32_and_float64_with_identical_values_stay_equal() -> None:
    diff = only(compare(np.array([0.5, 2.0], dtype=np.float32), np.array([0.5, 2.0])))
    assert diff.status == "equal"
    assert diff.notes == ("dtype float32 vs float64 (compared at float32 tolerance)",)


def test_explicit_tolerance_overrides_the_defaults() -> None:
    left, right = np.array([100.0]), np.array([100.5])
    assert only(compare(left, right)).status == "differs"
    loose = only(compare(left, right, tolerance=Tolerance(rtol=1e-2)))
    assert (loose.status, loose.rtol, loose.atol) == ("close", 1e-2, 1e-7)
    strict = only(compare(np.array([1.0]), np.array([1.0 + 1e-12]), tolerance=Tolerance(0, 0)))
    assert (strict.status, strict.differing) == ("differs", 1)


def test_tolerance_for_dtype_takes_the_user_value_per_field() -> None:
    assert Tolerance().for_dtype("float16") == (1e-3, 1e-5)
    assert Tolerance().for_dtype("bfloat16") == (1.6e-2, 1e-5)
    assert Tolerance().for_dtype("complex64") == DEFAULT_TOLERANCES["float32"]
    assert Tolerance().for_dtype("int64") == (0.0, 0.0)
    assert Tolerance().for_dtype("Float32") == (1.3e-6, 1e-5)  # pandas' nullable float
    assert Tolerance(atol=0.5).for_dtype("float32") == (1.3e-6, 0.5)
    assert Tolerance(rtol=0.0).for_dtype("float64") == (0.0, 1e-7)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(EnvrunError, match="rtol"):
            Tolerance(rtol=bad)


def test_integers_compare_exactly() -> None:
    diff = only(compare(np.array([1, 2, 3]), np.array([1, 2, 4])))
    assert (diff.status, diff.differing, diff.rtol, diff.atol) == ("differs", 1, 0.0, 0.0)
    assert positions(diff) == ["[2]"]
    big = 2**60
    huge = only(compare(np.array([big]), np.array([big + 1])))
    assert huge.status == "differs"  # float64 would round both to the same value


def test_integer_widths_are_a_note_but_int_against_float_differs() -> None:
    widths = only(compare(np.array([1, 2], dtype=np.int32), np.array([1, 2], dtype=np.int64)))
    assert (widths.status, widths.notes) == ("equal", ("dtype int32 vs int64",))

    result = compare(np.array([1, 2]), np.array([1.0, 2.5]))
    diff = only(result)
    assert diff.status == "differs"
    assert "dtype int64 vs float64" in diff.notes
    assert diff.differing == 1 and positions(diff) == ["[1]"]  # elements still reported

    same_values = only(compare(np.array([1, 2]), np.array([1.0, 2.0])))
    assert (same_values.status, same_values.differing) == ("differs", 0)
    assert compare(np.array([1, 2]), np.array([1.0, 2.0])).summary() == (
        "differs: 1 of 1 output; top level: dtype int64 vs float64"
    )


def test_bool_arrays_against_int_arrays_differ() -> None:
    diff = only(compare(np.array([True, False]), np.array([1, 0])))
    assert diff.status == "differs"
    assert "dtype bool vs int64" in diff.notes
    assert only(compare(np.array([True, False]), np.array([True, False]))).status == "equal"


def test_shape_mismatch_compares_no_elements() -> None:
    diff = only(compare(np.zeros((2, 3)), np.zeros((3, 2))))
    assert (diff.status, diff.total) == ("differs", 0)
    assert diff.notes == ("shape (2, 3) vs (3, 2)",)
    assert diff.histogram == ()


def test_string_and_object_arrays_compare_exactly() -> None:
    diff = only(compare(np.array(["a", "b", "c"]), np.array(["a", "B", "c"])))
    assert (diff.status, positions(diff)) == ("differs", ["[1]"])
    assert (diff.first[0].left, diff.first[0].right) == ("'b'", "'B'")
    assert (diff.max_abs, diff.histogram) == (None, ())

    left = np.array([None, np.nan, "x", 1], dtype=object)
    assert only(compare(left, left.copy())).status == "equal"
    remarked = only(compare(left, np.array([np.nan, np.nan, "x", 1], dtype=object)))
    assert remarked.status == "close"
    assert remarked.notes == ("missing values marked differently at 1 position (None vs nan)",)
    changed = only(compare(left, np.array([None, np.nan, "x", "1"], dtype=object)))
    assert (changed.status, positions(changed)) == ("differs", ["[3]"])


def test_datetimes_compare_exactly_and_nat_matches_nat() -> None:
    left = np.array(["2024-01-01", "NaT"], dtype="datetime64[ns]")
    assert only(compare(left, left.copy())).status == "equal"
    right = np.array(["2024-01-02", "NaT"], dtype="datetime64[ns]")
    diff = only(compare(left, right))
    assert (diff.status, positions(diff), diff.max_abs) == ("differs", ["[0]"], None)


def test_complex_arrays_compare_the_magnitude_of_the_difference() -> None:
    diff = only(compare(np.array([1 + 1j, 2 + 0j]), np.array([1 + 1j, 2 + 3e-3j])))
    assert diff.status == "differs"
    assert diff.max_abs == pytest.approx(3e-3)
    assert only(compare(np.array([1 + 1j]), np.array([1 + 1j + 1e-12]))).status == "close"


def test_histogram_buckets_are_fixed_and_complete() -> None:
    left = np.zeros(9)
    right = np.array([0.0, 1e-13, 1e-10, 1e-7, 1e-4, 0.5, 2.0, np.nan, 0.0])
    diff = only(compare(left, right))
    assert [label for label, _ in diff.histogram] == [
        "0",
        "<1e-12",
        "1e-12..1e-9",
        "1e-9..1e-6",
        "1e-6..1e-3",
        "1e-3..1",
        ">=1",
        "nan/inf mismatch",
    ]
    assert [count for _, count in diff.histogram] == [2, 1, 1, 1, 1, 1, 1, 1]
    assert sum(count for _, count in diff.histogram) == diff.total


# ------------------------------------------------------------------------- scalars


def test_scalars() -> None:
    assert only(compare(1.5, 1.5)).status == "equal"
    close = only(compare(1.0, 1.0 + 1e-12))
    assert (close.kind, close.status, close.left_type) == ("scalar", "close", "float")
    assert close.first == ()
    assert only(compare(3, 4)).status == "differs"
    assert only(compare(np.float32(0.1), 0.1)).status == "close"
    assert only(compare(None, None)).status == "equal"
    moment = datetime.datetime(2024, 1, 1, 12)
    assert only(compare(moment, moment)).status == "equal"
    later = only(compare(moment, moment + datetime.timedelta(seconds=1)))
    assert (later.status, later.max_abs) == ("differs", None)


def test_int_against_float_scalar_differs_and_bool_against_int_is_a_type_change() -> None:
    numbers = only(compare(1, 1.0))
    assert (numbers.status, numbers.notes) == ("differs", ("dtype int64 vs float64",))
    flag = only(compare(True, 1))
    assert (flag.kind, flag.status, flag.left_type, flag.right_type) == (
        "type",
        "differs",
        "bool",
        "int",
    )
    text = only(compare(1.0, "1.0"))
    assert (text.kind, text.status) == ("type", "differs")


def test_strings_and_bytes_compare_exactly() -> None:
    assert only(compare("label", "label")).status == "equal"
    diff = only(compare("the quick brown fox", "the quick brown cat"))
    assert (diff.kind, diff.status, positions(diff)) == ("str", "differs", ["char 16"])
    assert diff.first[0].left == "...'ick brown fox'"  # ten characters of context
    longer = only(compare("abc", "abcd"))
    assert (longer.status, longer.notes) == ("differs", ("length 3 vs 4",))
    raw = only(compare(b"\x00\x01", b"\x00\x02"))
    assert (raw.kind, positions(raw)) == ("bytes", ["byte 1"])


def test_opaque_values_compare_by_repr() -> None:
    same = only(compare(Opaque("Booster", "<Booster 1>"), Opaque("Booster", "<Booster 1>")))
    assert (same.kind, same.status) == ("opaque", "equal")
    assert same.notes == ("compared by repr (lossy)",)
    diff = only(compare(Opaque("Booster", "<Booster 1>"), Opaque("Booster", "<Booster 2>")))
    assert (diff.status, positions(diff)) == ("differs", ["repr 9"])
    retyped = only(compare(Opaque("A", "x"), Opaque("B", "x")))
    assert (retyped.status, positions(retyped)) == ("differs", ["type"])


# ------------------------------------------------------------------------- containers


def test_nested_dicts_and_lists_report_paths_in_tree_order() -> None:
    left = {
        "probs": np.array([[0.1, 0.9], [0.8, 0.2]]),
        "labels": ["a", "b"],
        "meta": {"n": 3, "items": [{"id": 1}, None]},
    }
    right = {
        "probs": np.array([[0.1, 0.9], [0.8, 0.25]]),
        "labels": ["a", "c"],
        "meta": {"n": 3, "items": [{"id": 2}, None]},
    }
    result = compare(left, right)
    assert [o.path for o in result.outputs] == [
        "['probs']",
        "['labels']",
        "['meta']['n']",
        "['meta']['items'][0]['id']",
        "['meta']['items'][1]",
    ]
    paths = by_path(result)
    assert positions(paths["['probs']"]) == ["[1, 1]"]
    assert (paths["['labels']"].kind, positions(paths["['labels']"])) == ("list", ["[1]"])
    assert paths["['meta']['items'][0]['id']"].status == "differs"
    assert [o.path for o in result.differing_outputs] == [
        "['probs']",
        "['labels']",
        "['meta']['items'][0]['id']",
    ]
    assert result.summary() == (
        "differs: 3 of 5 outputs; max abs 1.0e+00 at ['meta']['items'][0]['id']"
    )


def test_missing_and_extra_keys_are_a_structure_difference() -> None:
    result = compare({"a": 1, "b": 2}, {"a": 1, "c": 2}, left_name="env", right_name="host")
    structure = result.outputs[0]
    assert (structure.path, structure.kind, structure.status) == ("", "structure", "differs")
    assert structure.notes == ("keys only in env: ['b']", "keys only in host: ['c']")
    assert by_path(result)["['a']"].status == "equal"
    assert result.summary() == "differs: 1 of 2 outputs; top level: keys only in env: ['b']"


def test_lists_of_numbers_compare_as_one_array() -> None:
    diff = only(compare([1.0, 2.0, 3.0], [1.0, 2.0, 3.5]))
    assert (diff.kind, diff.left_type, diff.total) == ("list", "list float64 (3,)", 3)
    assert positions(diff) == ["[2]"]
    ints = only(compare([1, 2], [1, 2]))
    assert (ints.status, ints.rtol) == ("equal", 0.0)
    mixed = only(compare([1, 2], [1.0, 2.0]))
    assert (mixed.status, mixed.notes) == ("differs", ("dtype int64 vs float64",))


def test_list_against_tuple_is_a_note_not_a_failure() -> None:
    result = compare([1, "a", None], (1, "a", None))
    assert result.status == "close"
    assert result.outputs[0].notes == ("list vs tuple",)
    assert result.summary() == "within tolerance; top level: list vs tuple"
    numbers = only(compare([1.0, 2.0], (1.0, 2.0)))
    assert (numbers.status, numbers.notes) == ("close", ("list vs tuple",))


def test_length_mismatch_is_a_structure_difference() -> None:
    diff = only(compare([1, 2, 3], [1, 2]))
    assert (diff.kind, diff.status, diff.notes) == ("structure", "differs", ("length 3 vs 2",))


def test_type_mismatch() -> None:
    diff = only(compare(np.zeros(2), [0.0, 0.0]))
    assert (diff.kind, diff.status) == ("type", "differs")
    assert (diff.left_type, diff.right_type) == ("ndarray float64 (2,)", "list of 2")


def test_empty_comparison_is_equal() -> None:
    result = compare({}, {})
    assert (result.status, result.outputs, result.summary()) == (
        "equal",
        (),
        "equal (0 outputs, 0 elements)",
    )


# ------------------------------------------------------------------------- frames


def pandas_free(value: Any, tmp_path: Path) -> Any:
    """The value as a host without pandas sees it: through the worker's encoding."""
    tree = json.loads(json.dumps(Encoder(tmp_path).encode(value), allow_nan=False))
    return decode(tree, tmp_path, use_pandas=False)


def as_pandas(value: Any, tmp_path: Path) -> Any:
    return value


FRAME_MODES = [
    pytest.param(as_pandas, id="pandas"),
    pytest.param(pandas_free, id="envrun.run.values.Frame"),
]


@needs_pandas
@pytest.mark.parametrize("view", FRAME_MODES)
def test_equal_frames(view: Callable[[Any, Path], Any], tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"]}, index=["p", "q"])
    result = compare(view(frame, tmp_path), view(frame.copy(), tmp_path))
    assert result.status == "equal"
    assert [(o.path, o.kind) for o in result.outputs] == [
        ("index", "index"),
        ("column 'x'", "column"),
        ("column 'label'", "column"),
    ]
    assert by_path(result)["column 'x'"].left_type == "DataFrame column float64"


@needs_pandas
@pytest.mark.parametrize("view", FRAME_MODES)
def test_frame_column_order_is_a_structure_difference(
    view: Callable[[Any, Path], Any], tmp_path: Path
) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]})
    result = compare(view(frame, tmp_path), view(frame[["b", "a"]], tmp_path))
    columns = by_path(result)["columns"]
    assert (columns.kind, columns.status) == ("structure", "differs")
    assert columns.notes == ("column order differs: [a, b] vs [b, a]",)
    assert by_path(result)["column 'a'"].status == "equal"  # compared by label
    assert by_path(result)["column 'b'"].status == "equal"


@needs_pandas
@pytest.mark.parametrize("view", FRAME_MODES)
def test_frame_missing_column(view: Callable[[Any, Path], Any], tmp_path: Path) -> None:
    left = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]})
    result = compare(
        view(left, tmp_path), view(left[["a", "c"]], tmp_path), left_name="env", right_name="host"
    )
    assert by_path(result)["columns"].notes == ("columns only in env: [b]",)
    assert "column 'b'" not in by_path(result)
    assert result.summary() == "differs: 1 of 4 outputs; columns: columns only in env: [b]"


@needs_pandas
@pytest.mark.parametrize("view", FRAME_MODES)
def test_frame_column_dtype_and_values(view: Callable[[Any, Path], Any], tmp_path: Path) -> None:
    left = pd.DataFrame({"n": [1, 2, 3], "p": [0.25, 0.5, 0.75]}, index=["x", "y", "z"])
    right = left.assign(n=[1.0, 2.0, 3.0], p=[0.25, 0.5, 0.8])
    result = compare(view({"out": left}, tmp_path), view({"out": right}, tmp_path))
    n, p = by_path(result)["['out'] column 'n'"], by_path(result)["['out'] column 'p'"]
    assert (n.status, n.notes) == ("differs", ("dtype int64 vs float64",))
    assert (n.left_type, n.right_type) == ("DataFrame column int64", "DataFrame column float64")
    assert (p.status, positions(p)) == ("differs", ["row 2 (index 'z')"])
    assert p.max_abs == pytest.approx(0.05)


@needs_pandas
@pytest.mark.parametrize("view", FRAME_MODES)
def test_frame_index_difference(view: Callable[[Any, Path], Any], tmp_path: Path) -> None:
    left = pd.DataFrame({"a": [1, 2]}, index=pd.Index([10, 20], name="id"))
    right = pd.DataFrame({"a": [1, 2]}, index=pd.Index([10, 21], name="id"))
    index = by_path(compare(view(left, tmp_path), view(right, tmp_path)))["index"]
    assert (index.kind, index.status, positions(index)) == ("index", "differs", ["row 1"])
    renamed = pd.DataFrame({"a": [1, 2]}, index=pd.Index([10, 20], name="key"))
    index = by_path(compare(view(left, tmp_path), view(renamed, tmp_path)))["index"]
    assert (index.status, index.notes) == ("differs", ("names 'id' vs 'key'",))


@needs_pandas
@pytest.mark.parametrize("view", FRAME_MODES)
def test_frame_row_count_difference(view: Callable[[Any, Path], Any], tmp_path: Path) -> None:
    result = compare(
        view(pd.DataFrame({"a": [1, 2]}), tmp_path), view(pd.DataFrame({"a": [1, 2, 3]}), tmp_path)
    )
    diff = only(result)
    assert (diff.path, diff.status) == ("index", "differs")
    assert diff.notes == ("shape (2,) vs (3,)", "columns not compared: the row counts differ")


@needs_pandas
def test_pandas_and_pandas_free_views_of_one_frame_agree(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.5, np.nan], "s": ["u", "v"]}, index=[3, 4])
    assert compare(frame, pandas_free(frame, tmp_path)).status == "equal"


def test_frame_without_pandas() -> None:
    index = IndexValue("int64", None, range(3))
    left = Frame(
        ("a", "b"),
        ("float64", "object"),
        index,
        {"a": np.array([1.0, 2.0, 3.0]), "b": np.array(["x", None, "z"], dtype=object)},
    )
    right = Frame(
        ("b", "a"),
        ("object", "float32"),
        index,
        {"a": np.array([1.0, 2.0, 3.5], dtype=np.float32), "b": left.data["b"].copy()},
    )
    result = compare(left, right)
    paths = by_path(result)
    assert paths["columns"].notes == ("column order differs: [a, b] vs [b, a]",)
    a = paths["column 'a'"]
    assert "dtype float64 vs float32 (compared at float32 tolerance)" in a.notes
    assert (a.status, positions(a)) == ("differs", ["row 2 (index 2)"])
    assert paths["column 'b'"].status == "equal"


@needs_pandas
def test_repeated_column_labels_pair_by_occurrence() -> None:
    left = pd.DataFrame([[1, 2.5]], columns=["a", "a"])
    right = pd.DataFrame([[1, 2.75]], columns=["a", "a"])
    paths = by_path(compare(left, right))
    assert paths["column 'a'"].status == "equal"
    assert paths["column 'a' #2"].status == "differs"


@needs_pandas
@pytest.mark.parametrize("view", FRAME_MODES)
def test_series(view: Callable[[Any, Path], Any], tmp_path: Path) -> None:
    left = pd.Series([0.5, 1.5], index=["a", "b"], name="score")
    result = compare(view(left, tmp_path), view(left.copy(), tmp_path))
    assert [(o.path, o.kind, o.status) for o in result.outputs] == [
        ("index", "index", "equal"),
        ("", "series", "equal"),
    ]
    changed = compare(view(left, tmp_path), view(left.rename("proba") * 2, tmp_path))
    series = by_path(changed)[""]
    assert series.status == "differs"
    assert series.notes == ("name 'score' vs 'proba'",)
    assert positions(series) == ["row 0 (index 'a')", "row 1 (index 'b')"]
    assert series.left_type == "Series float64"


def test_series_without_pandas() -> None:
    index = IndexValue("object", None, np.array(["a", "b"], dtype=object))
    left = SeriesValue("s", "int64", index, np.array([1, 2]))
    right = SeriesValue("s", "int64", index, np.array([1, 3]))
    series = by_path(compare(left, right))[""]
    assert (series.status, positions(series)) == ("differs", ["row 1 (index 'b')"])


# ------------------------------------------------------------------------- renderings


def test_to_json_is_strict_json() -> None:
    left = {"x": np.array([0.0, np.nan, np.inf]), "s": "a", "o": Opaque("T", "t")}
    right = {"x": np.array([1e-9, np.nan, -np.inf]), "s": "b", "o": Opaque("T", "t")}
    result = compare(left, right, left_name="env", right_name="host")
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert (data["left"], data["right"], data["status"]) == ("env", "host", "differs")
    assert data["summary"] == result.summary()
    x = data["outputs"][0]
    assert x["path"] == "['x']"
    assert x["max_rel"] == "inf"  # 1e-9 against a reference of 0
    assert x["histogram"]["nan/inf mismatch"] == 1
    assert x["first"][-1] == {
        "position": "[2]",
        "left": "inf",
        "right": "-inf",
        "abs_err": "inf",
        "rel_err": "inf",
    }
    assert data["outputs"][1]["histogram"] == {}


def test_summary_when_close() -> None:
    result = compare({"a": np.array([1.0, 2.0])}, {"a": np.array([1.0, 2.0 + 2e-7])})
    assert result.status == "close"
    assert result.summary() == "within tolerance (max abs 2.0e-07, max rel 1.0e-07)"


def test_summary_names_the_first_non_numeric_difference() -> None:
    result = compare({"label": np.array(["cat", "dog"])}, {"label": np.array(["cat", "cow"])})
    assert result.summary() == "differs: 1 of 1 output; at ['label'] [1]: 'dog' vs 'cow'"


def test_long_values_are_shortened() -> None:
    diff = only(compare(np.array(["x" * 200], dtype=object), np.array(["y" * 200], dtype=object)))
    assert len(diff.first[0].left) <= 60 and diff.first[0].left.endswith("...")


def test_importing_the_module_does_not_import_numpy() -> None:
    code = "import sys, envrun.check.compare; print('numpy' in sys.modules, 'pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
