"""Batch scoring's pieces without an env: wire formats, answers as columns, part files, progress."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from envrun.batch import BatchProgress
from envrun.batch.files import input_files, read_chunks
from envrun.batch.frames import encode_batch, prediction_columns, wire_format
from envrun.cli.commands.batch import progress_line
from envrun.errors import InputError, PredictError
from envrun.run.worker.inputs import parse_bytes

BATCH = pa.record_batch(
    {"x": pa.array([1.5, None, 3.0]), "n": pa.array([1, 2, 3]), "s": pa.array(["a", None, "c"])}
)


@pytest.mark.parametrize(
    ("packages", "fmt"),
    [
        ({"numpy": "2", "pandas": "2", "pyarrow": "15"}, "arrow"),
        ({"numpy": "2", "Pandas": "2"}, "npz"),
        ({"numpy": "2"}, "npy"),
        ({}, "json"),
        (None, "json"),
    ],
)
def test_wire_format_follows_what_the_env_can_read(packages: dict[str, str] | None, fmt: str) -> None:
    assert wire_format(packages) == fmt


def test_arrow_batches_reach_the_model_as_the_same_dataframe() -> None:
    data, fmt = encode_batch(BATCH, "arrow")
    frame, params = parse_bytes(data, fmt, None)
    assert params is None
    pd.testing.assert_frame_equal(frame, BATCH.to_pandas())


def test_numeric_columns_cross_as_npz_and_text_falls_back_to_json() -> None:
    numeric = BATCH.select(["x", "n"])
    data, fmt = encode_batch(numeric, "npz")
    assert fmt == "npz"
    with np.load(io.BytesIO(data)) as archive:
        assert archive.files == ["x", "n"]
        np.testing.assert_array_equal(archive["x"], [1.5, np.nan, 3.0])
    data, fmt = encode_batch(numeric, "npy")
    assert fmt == "npy" and np.load(io.BytesIO(data)).shape == (3, 2)
    data, fmt = encode_batch(BATCH, "npz")
    assert fmt == "json"
    assert json.loads(data)["dataframe_split"]["data"][1] == [None, 2, None]
    data, fmt = encode_batch(BATCH, "json")  # no pandas in the env
    assert fmt == "json" and json.loads(data)["inputs"]["s"] == ["a", None, "c"]


def test_answers_become_one_column_per_output() -> None:
    [(name, column)] = prediction_columns(np.array([1, 2, 3]), 3)
    assert name == "prediction" and column.to_pylist() == [1, 2, 3]
    two = prediction_columns(np.arange(6.0).reshape(3, 2), 3, "p")
    assert [n for n, _ in two] == ["p_0", "p_1"]
    frame = prediction_columns(pd.DataFrame({"label": ["a", "b", "c"], "score": [1, 2, 3]}), 3)
    assert [n for n, _ in frame] == ["label", "score"]
    assert prediction_columns(["x", "y", "z"], 3)[0][1].to_pylist() == ["x", "y", "z"]


def test_an_answer_of_the_wrong_length_is_the_models_error() -> None:
    with pytest.raises(PredictError, match="returned 2 values in 'prediction' for a batch of 3"):
        prediction_columns(np.array([1, 2]), 3)
    with pytest.raises(PredictError, match="one prediction per row"):
        prediction_columns(3.0, 3)


def test_part_files_are_read_in_name_order_with_their_row_ranges(tmp_path: Path) -> None:
    for i in (1, 0):
        (tmp_path / f"part-{i}.csv").write_text("a,b\n" + "".join(f"{i},{r}\n" for r in range(5)))
    (tmp_path / "_SUCCESS").write_text("")
    files, fmt = input_files(tmp_path, None)
    assert [f.name for f in files] == ["part-0.csv", "part-1.csv"] and fmt == "csv"
    chunks = list(read_chunks(files, fmt, 2))
    assert [(c.file.name, c.first_row, c.offset, c.rows) for c in chunks] == [
        ("part-0.csv", 0, 0, 2), ("part-0.csv", 2, 2, 2), ("part-0.csv", 4, 4, 1),
        ("part-1.csv", 0, 5, 2), ("part-1.csv", 2, 7, 2), ("part-1.csv", 4, 9, 1),
    ]  # fmt: skip
    assert chunks[4].where().startswith("rows 2-3 of ") and "(rows 7-8 of the input)" in chunks[4].where()


def test_inputs_that_cannot_be_read_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    (tmp_path / "b.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="cannot tell the batch input's format"):
        input_files(tmp_path, None)
    with pytest.raises(InputError, match="cannot read the batch input"):
        list(read_chunks([tmp_path / "b.parquet"], "parquet", 10))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Parquet, CSV or JSON Lines"):
        input_files(tmp_path / "empty", None)


def test_progress_line_shows_rate_and_eta() -> None:
    assert progress_line(BatchProgress(rows=250, total=1000, seconds=2.5)) == (
        "250 / 1,000 rows   25% | 100 rows/s | ETA 0:07"
    )
    assert progress_line(BatchProgress(rows=10, total=None, seconds=0.0)) == "10 rows | 0 rows/s"


def test_spark_result_types_are_inferred_as_mlflow_does() -> None:
    from envrun.batch.spark import infer_ddl

    assert infer_ddl(None) == "double"
    assert infer_ddl([{"type": "tensor", "tensor-spec": {"dtype": "str", "shape": [-1]}}]) == "string"
    tensor = {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}
    assert infer_ddl([tensor]) == "array<float>"
    assert infer_ddl([{"type": "long", "name": "n"}]) == "bigint"
    two = [{"type": "string", "name": "label"}, {"type": "double", "name": "p"}]
    assert infer_ddl(two) == "struct<`label` string, `p` double>"
