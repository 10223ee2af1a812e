"""Reading and checking the prediction input on the host."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from envrun.errors import InputError
from envrun.run.inputs import SPLIT_NOTE, InputSpec, check_against_signature, read_input

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))
    return path


def read(tmp_path: Path, name: str, content: Any, **options: Any) -> InputSpec:
    source = write(tmp_path, name, content)
    return read_input(str(source), dest_dir=tmp_path / "ctl", **options)


def error_of(tmp_path: Path, name: str, content: Any, **options: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        read(tmp_path, name, content, **options)
    return caught.value


# ---------------------------------------------------------------- JSON


def test_dataframe_split_is_copied_and_described(tmp_path: Path) -> None:
    # Bare NaN tokens, as MLflow's own clients write them.
    text = (
        '{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, NaN]]}, '
        '"params": {"k": 1}}'
    )
    spec = read(tmp_path, "request.json", text)
    assert spec == InputSpec(
        path=tmp_path / "ctl" / "input.json",
        format="json",
        json_key="dataframe_split",
        params={"k": 1},
        columns=("a", "b"),
        rows=2,
    )
    assert spec.path.read_text() == text


@pytest.mark.parametrize(
    ("payload", "key", "columns", "rows"),
    [
        ({"dataframe_records": [{"b": 1}, {"a": 2, "b": 3}]}, "dataframe_records", ("b", "a"), 2),
        ({"instances": [[1, 2], [3, 4], [5, 6]]}, "instances", None, 3),
        ({"instances": [{"x": 1}, {"y": 2}]}, "instances", ("x", "y"), 2),
        ({"inputs": {"x": [1, 2], "y": [3, 4]}}, "inputs", ("x", "y"), None),
        ({"inputs": "a prompt"}, "inputs", None, None),
        ({"dataframe_split": {"data": [[1], [2]]}}, "dataframe_split", None, 2),
    ],
)
def test_json_keys(
    tmp_path: Path, payload: Any, key: str, columns: tuple[str, ...] | None, rows: int | None
) -> None:
    spec = read(tmp_path, "in.json", payload)
    assert (spec.json_key, spec.columns, spec.rows, spec.params) == (key, columns, rows, None)


def test_input_example_split_orient_is_read_as_dataframe_split(tmp_path: Path) -> None:
    spec = read(tmp_path, "input_example.json", {"columns": ["a"], "data": [[1.5], [2.5]]})
    assert spec.json_key == "dataframe_split" and spec.note == SPLIT_NOTE
    assert spec.columns == ("a",) and spec.rows == 2
    assert json.loads(spec.path.read_text()) == {
        "dataframe_split": {"columns": ["a"], "data": [[1.5], [2.5]]}
    }


def test_input_example_with_params_is_read_as_dataframe_split(tmp_path: Path) -> None:
    example = {"inputs": {"columns": ["a", "b"], "data": [[1.0, 3]]}, "params": {"scale": 2.0}}
    spec = read(tmp_path, "input_example.json", example)
    assert (spec.json_key, spec.columns, spec.rows) == ("dataframe_split", ("a", "b"), 1)
    assert spec.params == {"scale": 2.0} and spec.note == SPLIT_NOTE
    assert json.loads(spec.path.read_text()) == {
        "dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 3]]},
        "params": {"scale": 2.0},
    }


@pytest.mark.parametrize(
    "payload",
    [
        {"inputs": {"data": [[1, 2]]}, "params": {"k": 1}},
        {"inputs": {"columns": ["a"], "data": [[1]]}},
    ],
)
def test_tensor_inputs_named_like_split_keys_are_left_alone(tmp_path: Path, payload: Any) -> None:
    spec = read(tmp_path, "in.json", payload)
    assert (spec.json_key, spec.note) == ("inputs", None)
    assert json.loads(spec.path.read_text()) == payload


def test_malformed_json_points_at_line_and_column(tmp_path: Path) -> None:
    error = error_of(tmp_path, "in.json", '{"inputs": [1, 2,\n  3 4]}')
    assert "line 2, column 5" in error.what
    assert error.value is not None and "3 4]}" in error.value and "in.json:2:5" in error.value
    assert error.fix


@pytest.mark.parametrize(
    ("payload", "fragments"),
    [
        ([1, 2], ["must be an object", "a JSON list"]),
        ({"data": 1, "columns": 2, "x": 3}, ["exactly one of", "keys found: data, columns, x"]),
        ({"inputs": [1], "instances": [1]}, ["exactly one of", "keys found: inputs, instances"]),
        ({}, ["keys found: (none)"]),
    ],
)
def test_wrong_top_level_shape(tmp_path: Path, payload: Any, fragments: list[str]) -> None:
    error = error_of(tmp_path, "in.json", payload)
    text = str(error)
    assert all(fragment in text for fragment in fragments), text
    assert error.fix is not None and '"dataframe_split": {"columns"' in error.fix


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"dataframe_split": {"columns": ["a"]}}, "must be an object with 'data'"),
        ({"dataframe_split": [[1]]}, "must be an object with 'data'"),
        ({"dataframe_split": {"data": [[1]], "dtypes": []}}, "other than"),
        ({"dataframe_split": {"data": {"a": 1}}}, "'data' must be a list"),
        ({"dataframe_split": {"data": [[1]], "columns": "a"}}, "'columns' must be a list"),
        ({"dataframe_split": {"data": [[1]], "index": [1, 2]}}, "one label per row"),
        ({"dataframe_records": {"a": [1]}}, "must be a list of records"),
        ({"inputs": [1], "params": "fast"}, "'params'"),
    ],
)
def test_malformed_payloads(tmp_path: Path, payload: Any, fragment: str) -> None:
    error = error_of(tmp_path, "in.json", payload)
    assert fragment in error.what
    assert error.fix


def test_row_of_the_wrong_width_is_named(tmp_path: Path) -> None:
    payload = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4], [5]]}}
    error = error_of(tmp_path, "in.json", payload)
    assert error.what == "row 3 of dataframe_split has 1 value(s) but there are 2 columns"
    assert error.value == "row 3 (counting from 1): [5]"


def test_single_column_rows_may_be_scalars(tmp_path: Path) -> None:
    spec = read(tmp_path, "in.json", {"dataframe_split": {"columns": ["a"], "data": [1, 2]}})
    assert spec.rows == 2


def test_json_with_byte_order_mark_and_invalid_utf8(tmp_path: Path) -> None:
    spec = read(tmp_path, "bom.json", b'\xef\xbb\xbf{"inputs": [1]}')
    assert spec.json_key == "inputs"
    error = error_of(tmp_path, "bad.json", b'{"inputs": ["\xff"]}')
    assert "UTF-8" in error.what


# ---------------------------------------------------------------- files and stdin


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_input(str(tmp_path / "nope.json"), dest_dir=tmp_path / "ctl")
    assert caught.value.what == "input file not found"
    assert caught.value.value == str(tmp_path / "nope.json")
    assert caught.value.fix is not None and "-" in caught.value.fix


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        read_input(str(tmp_path), dest_dir=tmp_path / "ctl")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file(tmp_path: Path) -> None:  # pragma: no cover - not run as root
    source = write(tmp_path, "in.json", {"inputs": [1]})
    source.chmod(0)
    with pytest.raises(InputError, match="cannot read"):
        read_input(str(source), dest_dir=tmp_path / "ctl")


def test_stdin_is_saved_into_the_control_dir(tmp_path: Path) -> None:
    stdin = io.BytesIO(b'  {"instances": [[1, 2]]}')
    spec = read_input("-", dest_dir=tmp_path / "ctl", stdin=stdin)
    assert spec.path == tmp_path / "ctl" / "input.json"
    assert spec.format == "json" and spec.rows == 1
    assert spec.path.read_bytes() == b'  {"instances": [[1, 2]]}'


def test_empty_stdin(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        read_input("-", dest_dir=tmp_path, stdin=io.BytesIO(b""))


def _npy_bytes(array: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npz_bytes(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "fmt", "columns", "rows"),
    [
        (b"a,b\n1,2\n", "csv", ("a", "b"), 1),
        (_npy_bytes(np.zeros((5, 2))), "npy", None, 5),
        (_npz_bytes(x=np.zeros(3), y=np.ones(2)), "npz", ("x", "y"), None),
    ],
)
def test_stdin_format_is_sniffed(
    tmp_path: Path, data: bytes, fmt: str, columns: tuple[str, ...] | None, rows: int | None
) -> None:
    spec = read_input("-", dest_dir=tmp_path, stdin=io.BytesIO(data))
    assert (spec.format, spec.columns, spec.rows) == (fmt, columns, rows)
    assert spec.path == tmp_path / f"input.{fmt}" and spec.path.read_bytes() == data


def test_format_from_extension_then_content_then_flag(tmp_path: Path) -> None:
    assert read(tmp_path, "data.txt", {"inputs": [1]}).format == "json"
    assert read(tmp_path, "data.csv", "x\n1\n").format == "csv"
    forced = read(tmp_path, "weird.bin", "x\n1\n", fmt="csv")
    assert forced.format == "csv" and forced.path.name == "input.csv"
    with pytest.raises(InputError, match="unknown input format"):
        read(tmp_path, "data.csv", "x\n1\n", fmt="parquet")


def test_csv_header_and_row_count(tmp_path: Path) -> None:
    text = 'name,"note, with comma",n\nx,"two\nlines",1\n\ny,z,2\n'
    spec = read(tmp_path, "in.csv", text)
    assert spec.columns == ("name", "note, with comma", "n") and spec.rows == 2
    assert spec.json_key is None and spec.params is None


def test_empty_csv(tmp_path: Path) -> None:
    assert "no header" in error_of(tmp_path, "in.csv", "").what


def test_bad_npy_and_npz(tmp_path: Path) -> None:
    assert "not a valid .npy" in error_of(tmp_path, "in.npy", "1,2,3").what
    assert "not a valid .npz" in error_of(tmp_path, "in.npz", "1,2,3").what


def test_npy_header_is_read_without_numpy(tmp_path: Path) -> None:
    spec = read(tmp_path, "in.npy", _npy_bytes(np.zeros((7, 3), dtype=np.float32)))
    assert spec.rows == 7
    scalar = read(tmp_path, "scalar.npy", _npy_bytes(np.float64(1.0)))
    assert scalar.rows is None


def test_module_imports_neither_numpy_nor_pandas() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import envrun.run.inputs; "
        "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- signature

SIGNATURE: list[dict[str, object]] = [
    {"name": "a", "type": "double"},
    {"name": "b", "type": "long"},
    {"name": "c", "type": "string", "required": False},
]


def spec_with(columns: tuple[str, ...] | None) -> InputSpec:
    return InputSpec(Path("input.json"), "json", "dataframe_split", None, columns, 1)


def test_missing_required_columns(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        check_against_signature(spec_with(("a", "x")), SIGNATURE)
    error = caught.value
    assert error.what.endswith("requires: b")
    assert error.value == "columns received: a, x"
    assert error.fix is not None and "a (double), b (long), c (string, optional)" in error.fix


def test_extra_columns_are_warned_about() -> None:
    assert check_against_signature(spec_with(("b", "a", "x", "y")), SIGNATURE) == [
        "input columns not in the model signature will be dropped: x, y"
    ]
    assert check_against_signature(spec_with(("a", "b", "c")), SIGNATURE) == []


@pytest.mark.parametrize(
    ("columns", "signature"),
    [
        (None, SIGNATURE),
        (("a",), None),
        (("a",), []),
        (("x",), [{"type": "double"}, {"type": "long"}]),
    ],
)
def test_nothing_to_check(
    columns: tuple[str, ...] | None, signature: list[dict[str, object]] | None
) -> None:
    assert check_against_signature(spec_with(columns), signature) == []


def test_named_tensor_signature_against_npz_names() -> None:
    signature: list[dict[str, object]] = [
        {"name": "x", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}
    ]
    spec = InputSpec(Path("input.npz"), "npz", None, None, ("y",), None)
    with pytest.raises(InputError) as caught:
        check_against_signature(spec, signature)
    assert caught.value.fix is not None and "x (tensor float32 [-1, 2])" in caught.value.fix


def test_bare_data_without_columns_is_not_taken_for_a_dataframe(tmp_path: Path) -> None:
    err = error_of(tmp_path, "x.json", {"data": [[1, 2]]})
    assert "exactly one of the keys" in str(err)
    assert "keys found: data" in str(err)
