"""envrun.spark.udf on a real Spark in local[2]: predictions, result types, errors, processes."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from envrun import api
from envrun.settings import make_settings
from tests.helpers import INPUTS, MODELS, make_model

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (no `java` on PATH)"),
    # pyspark warns that it does not fully support pandas 3 yet; the fixtures' pandas is 3.1.1.
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    # pyspark 3.5 leaves the sockets of collect() to the garbage collector.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

SLEEPY = """
import time


class Sleepy:
    def predict(self, model_input, params=None):
        time.sleep(600)
        return model_input


def _load_pyfunc(data_path):
    return Sleepy()
"""


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pyspark_sql = pytest.importorskip("pyspark.sql")
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("envrun-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    # Spark's Python workers run PYSPARK_PYTHON (else `python3` from PATH); the tests leave
    # os.environ alone and point this context at the interpreter that has envrun instead.
    session.sparkContext.pythonExec = sys.executable
    yield session
    session.stop()


def _frame(spark: Any, name: str, partitions: int = 2) -> tuple[Any, Any]:
    """The fixture's input as a Spark DataFrame, and the one-shot prediction to compare with."""
    import pandas as pd

    doc = json.loads((INPUTS / f"{name}.json").read_text())
    if "dataframe_split" in doc:
        pdf = pd.DataFrame(doc["dataframe_split"]["data"], columns=doc["dataframe_split"]["columns"])
    elif "dataframe_records" in doc:
        pdf = pd.DataFrame(doc["dataframe_records"])
    else:
        rows = np.asarray(doc["inputs"], dtype=np.float64)
        pdf = pd.DataFrame(rows, columns=[f"x{i}" for i in range(rows.shape[1])])
    return spark.createDataFrame(pdf).repartition(partitions), pdf


def _oneshot(name: str, cache: Path) -> Any:
    run = api.predict(MODELS / name, str(INPUTS / f"{name}.json"), make_settings(cache_dir=str(cache)))
    return run.prediction.value


def _runner_pids(cache: Path) -> list[int]:
    """Persistent envrun workers whose interpreter lives in this cache."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().split(") ")[-1][:1]
        except OSError:
            continue
        if (
            state != "Z"
            and len(argv) > 4
            and argv[0].decode(errors="replace").startswith(str(cache))
            and argv[3].endswith(b"_runner.py")
            and argv[4] == b"persistent"
        ):
            found.append(int(entry.name))
    return found


def _wait_gone(cache: Path, seconds: float = 60.0) -> list[int]:
    event = threading.Event()
    for _ in range(int(seconds * 4)):
        left = _runner_pids(cache)
        if not left:
            return []
        event.wait(0.25)
    return _runner_pids(cache)


def test_sklearn_strings_equal_the_in_process_run(spark: Any, shared_cache: Path) -> None:
    from envrun.spark import udf

    df, _ = _frame(spark, "mlflow_sklearn", partitions=1)
    score = udf(spark, MODELS / "mlflow_sklearn", cache_dir=str(shared_cache))
    assert score.result_type.simpleString() == "string"  # the signature's str tensor
    got = df.withColumn("p", score()).toPandas()
    assert list(got["p"]) == list(_oneshot("mlflow_sklearn", shared_cache))


def test_pythonmodel_with_artifacts_infers_a_struct(spark: Any, shared_cache: Path) -> None:
    from envrun.spark import udf

    df, _ = _frame(spark, "mlflow_pyfunc", partitions=1)
    params = json.loads((INPUTS / "mlflow_pyfunc.json").read_text())["params"]
    score = udf(spark, MODELS / "mlflow_pyfunc", cache_dir=str(shared_cache), params=params)
    assert score.result_type.simpleString() == (
        "struct<customer_id:string,label:string,probability:double>"
    )
    got = df.withColumn("p", score()).select("p.*").toPandas()
    expected = _oneshot("mlflow_pyfunc", shared_cache)
    assert list(got["label"]) == list(expected["label"])
    np.testing.assert_array_equal(got["probability"].to_numpy(), expected["probability"].to_numpy())


def test_numpy_model_as_array_and_struct(spark: Any, shared_cache: Path) -> None:
    from pyspark.sql.functions import struct

    from envrun.spark import udf

    df, _ = _frame(spark, "numpy_custom")
    expected = _oneshot("numpy_custom", shared_cache)
    as_array = udf(spark, MODELS / "numpy_custom", "array<double>", cache_dir=str(shared_cache))
    as_struct = udf(spark, MODELS / "numpy_custom", "y0 double, y1 double", cache_dir=str(shared_cache))
    got = (
        df.withColumn("arr", as_array("x0", "x1", "x2"))
        .withColumn("st", as_struct(struct("x0", "x1", "x2")))
        .orderBy("x0", "x1")
        .toPandas()
    )
    inputs = np.asarray(json.loads((INPUTS / "numpy_custom.json").read_text())["inputs"])
    order = np.lexsort((inputs[:, 1], inputs[:, 0]))
    np.testing.assert_array_equal(np.stack(got["arr"].to_list()), expected[order])
    np.testing.assert_array_equal(got["st"].map(lambda r: r["y1"]).to_numpy(), expected[order, 1])


def test_torch_custom_equals_the_in_process_run(spark: Any, shared_cache: Path) -> None:
    from envrun.spark import udf

    df, _ = _frame(spark, "torch_custom", partitions=1)
    expected = np.asarray(_oneshot("torch_custom", shared_cache))
    kind = "float" if expected.dtype == np.float32 else "double"
    result = f"array<{kind}>" if expected.ndim == 2 else kind
    score = udf(spark, MODELS / "torch_custom", result, cache_dir=str(shared_cache))
    got = df.withColumn("p", score("x0", "x1", "x2", "x3")).toPandas()["p"]
    values = np.stack(got.to_list()) if expected.ndim == 2 else got.to_numpy()
    np.testing.assert_array_equal(values.astype(expected.dtype), expected)


def test_a_model_that_raises_fails_the_task_with_its_traceback(spark: Any, shared_cache: Path) -> None:
    from envrun.spark import udf

    df, _ = _frame(spark, "numpy_custom", partitions=1)
    score = udf(spark, MODELS / "raises", cache_dir=str(shared_cache))
    with pytest.raises(Exception) as caught:
        df.withColumn("p", score("x0", "x1")).collect()
    text = str(caught.value)
    assert "bad input for raises model" in text
    assert "raising_model.py" in text  # the model's own frame, from its process


def test_two_first_tasks_on_a_cold_cache_build_one_env(spark: Any, tmp_path: Path) -> None:
    from envrun.spark import udf

    cold = tmp_path / "cold"
    df, _ = _frame(spark, "numpy_custom", partitions=2)
    score = udf(spark, MODELS / "numpy_custom", "array<double>", cache_dir=str(cold))
    rows = df.withColumn("p", score("x0", "x1", "x2")).collect()
    assert len(rows) == 4 and all(len(row["p"]) == 2 for row in rows)
    assert len([p for p in (cold / "envs").iterdir() if p.is_dir()]) == 1
    # One install log per build: two tasks started at once, one built, the other waited.
    assert len(list((cold / "logs").glob("*.log"))) == 1


def test_no_worker_outlives_a_cancelled_job_or_spark_stop(
    spark: Any, shared_cache: Path, tmp_path: Path
) -> None:
    from envrun.spark import udf

    model = make_model(tmp_path / "sleepy", loader="sleepy", loader_source=SLEEPY)
    for name in ("python_env.yaml", "requirements.txt", "conda.yaml"):
        (model / name).write_bytes((MODELS / "numpy_custom" / name).read_bytes())
    df, _ = _frame(spark, "numpy_custom", partitions=1)
    score = udf(spark, model, cache_dir=str(shared_cache))
    failures: list[BaseException] = []

    def run() -> None:
        try:
            df.withColumn("p", score("x0", "x1", "x2")).collect()
        except BaseException as exc:  # the cancellation
            failures.append(exc)

    before = set(_runner_pids(shared_cache))
    job = threading.Thread(target=run)
    job.start()
    waited = threading.Event()
    for _ in range(240):
        if set(_runner_pids(shared_cache)) - before:
            break
        waited.wait(0.5)
    started = set(_runner_pids(shared_cache)) - before
    assert started, "the sleepy model's worker never started"
    spark.sparkContext.cancelAllJobs()
    job.join(120)
    assert failures and not job.is_alive()
    for _ in range(240):
        if not started & set(_runner_pids(shared_cache)):
            break
        waited.wait(0.25)
    assert not started & set(_runner_pids(shared_cache))
    spark.stop()
    assert _wait_gone(shared_cache) == []
