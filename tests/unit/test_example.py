"""synthetic_input: every signature type, proven by the worker's own parsing and enforcement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from envrun.errors import ModelError
from envrun.model.example import synthetic_input
from envrun.model.mlmodel import read_model
from envrun.run.worker.inputs import read_input
from envrun.run.worker.signature import enforce
from tests.helpers import make_model

COLUMN_TYPES = ["boolean", "integer", "long", "float", "double", "string", "binary", "datetime"]
EXPECTED_DTYPES = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}


def _model(tmp_path: Path, inputs: list[dict[str, Any]], params: Any = None) -> Path:
    signature = {"inputs": json.dumps(inputs), "params": json.dumps(params) if params else None}
    extra = "signature:\n" + "".join(
        f"  {k}: {json.dumps(v) if v is not None else 'null'}\n" for k, v in signature.items()
    )
    return make_model(tmp_path / "m", extra_top=extra)


def _through_worker(tmp_path: Path, model_dir: Path) -> tuple[Any, Any, list[str]]:
    info = read_model(model_dir)
    doc = synthetic_input(info)
    path = tmp_path / "input.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    request = {
        "input": {"path": str(path), "format": "json"},
        "signature": {"inputs": info.signature_inputs, "params": info.signature_params},
    }
    data, params = read_input(request)
    warnings: list[str] = []
    data, params = enforce(data, params, request, warnings)
    return data, params, warnings


@pytest.mark.parametrize("kind", COLUMN_TYPES)
def test_each_column_type_passes_signature_enforcement(tmp_path: Path, kind: str) -> None:
    model = _model(tmp_path, [{"name": "c", "type": kind, "required": True}])
    frame, _, warnings = _through_worker(tmp_path, model)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["c"]
    assert len(frame) == 2
    # pandas 3 names its string dtype "str"; earlier pandas keeps strings as object.
    assert str(frame["c"].dtype) in (EXPECTED_DTYPES[kind], "str" if kind == "string" else "")
    assert warnings == []


def test_all_columns_together_with_optional_ones_and_params(tmp_path: Path) -> None:
    inputs = [{"name": k, "type": k, "required": k != "double"} for k in COLUMN_TYPES]
    inputs += [
        {"name": "arr", "type": "array", "items": {"type": "double"}, "required": True},
        {
            "name": "obj",
            "type": "object",
            "properties": {"a": {"type": "string", "required": True}},
            "required": False,
        },
        {"name": "m", "type": "map", "values": {"type": "long"}, "required": True},
    ]
    params = [{"name": "alpha", "type": "double", "default": 0.5, "shape": None}]
    frame, got_params, warnings = _through_worker(tmp_path, _model(tmp_path, inputs, params))
    assert list(frame.columns) == [spec["name"] for spec in inputs]
    assert frame["arr"][0] == [0.5, 1.5]
    assert frame["obj"][0] == {"a": "text0"}
    assert got_params == {"alpha": 0.5}
    assert warnings == []


def test_unnamed_columns(tmp_path: Path) -> None:
    model = _model(tmp_path, [{"type": "double"}, {"type": "long"}])
    frame, _, _ = _through_worker(tmp_path, model)
    assert [str(t) for t in frame.dtypes] == ["float64", "int64"]


@pytest.mark.parametrize(
    "dtype",
    [
        "float16",
        "float32",
        "float64",
        "int8",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint64",
        "bool",
        "str",
    ],
)
def test_each_tensor_dtype_with_batch_and_free_dimensions(tmp_path: Path, dtype: str) -> None:
    spec = {"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": [-1, 3, -1]}}
    array, _, _ = _through_worker(tmp_path, _model(tmp_path, [spec]))
    assert isinstance(array, np.ndarray)
    assert array.shape == (2, 3, 1)
    assert array.dtype.kind == np.dtype(dtype).kind
    assert array.dtype.itemsize == np.dtype(dtype).itemsize or dtype == "str"


def test_named_tensors_and_the_ragged_object_spelling(tmp_path: Path) -> None:
    specs = [
        {"name": "x", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}},
        {"name": "ids", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}},
        {"name": "any", "type": "tensor", "tensor-spec": {"dtype": "object", "shape": [-1]}},
    ]
    data, _, _ = _through_worker(tmp_path, _model(tmp_path, specs))
    assert data["x"].shape == (2, 4)
    assert data["ids"].dtype == np.int64
    assert list(data["any"]) == ["text0", "text1"]


def test_the_same_model_gets_the_same_input(tmp_path: Path) -> None:
    model = read_model(_model(tmp_path, [{"name": "c", "type": "double"}]))
    assert synthetic_input(model) == synthetic_input(model)
    assert synthetic_input(model) == {"dataframe_split": {"columns": ["c"], "data": [[0.5], [1.5]]}}


def test_no_signature_is_a_clear_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as err:
        synthetic_input(read_model(make_model(tmp_path / "m")))
    assert "no input signature" in err.value.what
    assert err.value.fix and "signature" in err.value.fix


@pytest.mark.parametrize(
    "inputs",
    [
        [{"name": "c", "type": "decimal"}],
        [{"type": "tensor", "tensor-spec": {"dtype": "float32"}}],
        [{"type": "tensor", "tensor-spec": {"dtype": "complex64", "shape": [-1]}}],
        [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [100000, 100000]}}],
        [{"name": "a", "type": "double"}, {"type": "tensor", "tensor-spec": {"dtype": "int8"}}],
    ],
)
def test_signatures_envrun_cannot_fill_are_model_errors(
    tmp_path: Path, inputs: list[dict[str, Any]]
) -> None:
    with pytest.raises(ModelError):
        synthetic_input(read_model(_model(tmp_path, inputs)))
