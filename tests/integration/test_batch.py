"""`envrun batch` on real part files, through real workers in a real env."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from envrun.batch import BatchOptions, run_batch
from envrun.errors import PredictError
from envrun.settings import make_settings
from tests.helpers import MODELS, make_model, write
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration

# The model refuses negative inputs; row 7 of the second part file has one.
PICKY = '''
import numpy as np


class Picky:
    def predict(self, model_input, params=None):
        x = np.asarray(model_input, dtype=np.float64)
        bad = np.flatnonzero((x < 0).any(axis=1))
        if bad.size:
            raise ValueError(f"negative input in batch row {int(bad[0])}")
        return x.sum(axis=1)


def _load_pyfunc(data_path):
    return Picky()
'''


def _picky_model(root: Path) -> Path:
    model = make_model(root, loader="picky", loader_source=PICKY)
    # The same declaration as the numpy_custom fixture: the session cache already has its env.
    for name in ("python_env.yaml", "requirements.txt", "conda.yaml"):
        (model / name).write_bytes((MODELS / "numpy_custom" / name).read_bytes())
    return model


def _parts(root: Path) -> tuple[Path, np.ndarray]:
    """Three Parquet part files of 10 rows x 3 floats; row 7 of part-1 is negative."""
    rng = np.random.default_rng(7)
    values = rng.uniform(0.0, 1.0, size=(30, 3))
    values[17, 1] = -1.0
    root.mkdir()
    for i in range(3):
        rows = values[10 * i : 10 * (i + 1)]
        table = pa.table({name: rows[:, j] for j, name in enumerate(("a", "b", "c"))})
        pq.write_table(table, root / f"part-{i}.parquet")
    write(root / "_SUCCESS", "")  # Spark's marker file is not data
    return root, values


def test_fail_names_the_batch_and_the_models_error(shared_cache: Path, tmp_path: Path) -> None:
    model = _picky_model(tmp_path / "picky")
    parts, _ = _parts(tmp_path / "in")
    settings = make_settings(cache_dir=str(shared_cache))
    out = tmp_path / "out.parquet"
    with pytest.raises(PredictError) as caught:
        run_batch(model, parts, out, settings, BatchOptions(batch_size=5, workers=2))
    message = str(caught.value)
    assert "rows 5-9 of" in message and "part-1.parquet" in message
    assert "rows 15-19 of the input" in message
    assert "negative input in batch row 2" in message
    assert "picky.py" in caught.value.traceback
    assert not out.exists()
    assert not list(tmp_path.glob(".out.parquet*"))


def test_skip_leaves_out_the_bad_batch_and_keeps_order(shared_cache: Path, tmp_path: Path) -> None:
    model = _picky_model(tmp_path / "picky")
    parts, values = _parts(tmp_path / "in")
    settings = make_settings(cache_dir=str(shared_cache))
    out = tmp_path / "out.parquet"
    result = run_batch(
        model, parts, out, settings, BatchOptions(batch_size=5, workers=2, on_error="skip")
    )
    assert (result.rows_in, result.rows_out, result.batches) == (30, 25, 6)
    assert [(s.file.name, s.first_row, s.rows) for s in result.skipped] == [("part-1.parquet", 5, 5)]
    assert "negative input" in result.skipped[0].message
    assert result.wire_format == "npy"  # the env has numpy only
    table = pq.read_table(out)
    assert table.column_names == ["a", "b", "c", "prediction"]
    kept = np.r_[0:15, 20:30]
    np.testing.assert_array_equal(table.column("a").to_numpy(), values[kept, 0])
    np.testing.assert_allclose(table.column("prediction").to_numpy(), values[kept].sum(axis=1))


def test_cli_csv_out_predictions_only_and_exit_codes(shared_cache: Path, tmp_path: Path) -> None:
    model = _picky_model(tmp_path / "picky")
    parts, _ = _parts(tmp_path / "in")
    out = tmp_path / "out.csv"
    ok = run_envrun(
        "batch", model, parts, "-o", out, "--batch-size", "5", "--on-error", "skip",
        "--predictions-only", cache_dir=shared_cache,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "skipped rows 5-9 of" in ok.stderr and "wrote 25 of 30 rows" in ok.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == '"prediction"' and len(lines) == 26
    failed = run_envrun("batch", model, parts, "-o", out, cache_dir=shared_cache)
    assert failed.returncode == 4
    assert "negative input in batch row 7" in failed.stderr
    assert "rows 0-9 of" in failed.stderr and "part-1.parquet" in failed.stderr
    missing = run_envrun("batch", model, tmp_path / "nowhere", "-o", out, cache_dir=shared_cache)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
