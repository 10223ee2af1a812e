"""Spark batch-scoring benchmark: rows/s and first-batch latency per way of running a model.

Usage: python3 scripts/bench_spark.py [--rows N] [--venv DIR] [--pyspark VER] [--only ROW ...]

Rows (each in a fresh SparkContext, so every row starts with new Spark Python workers):
  A  in-process pandas UDF, model loaded once per Spark Python worker (the ceiling)
  B  mlflow.pyfunc.spark_udf(env_manager="local")
  C  mlflow.pyfunc.spark_udf(env_manager="uv")
  D  envrun.spark.udf, cold cache (the env is built on the executors)
  E  envrun.spark.udf, warm cache

The script makes its own venv (default .bench-venv-spark/) with pinned pyspark, mlflow, pyarrow,
uv, the fixture models' pinned requirements and envrun from this tree, then re-runs itself there.
Needs Java 17 on PATH (or JAVA_HOME). Results: stdout and bench-results/spark.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "fixtures" / "models"
PYSPARK = "4.3.0"
# mlflow 3.17.2 wrote the fixtures; it caps pyarrow below 26. uv is what env_manager="uv" runs.
TOOLS = ("mlflow==3.17.2", "pyarrow==25.0.1", "uv==0.13.9")
BATCH_ROWS = 10_000  # spark.sql.execution.arrow.maxRecordsPerBatch, Spark's default
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


@dataclass(frozen=True)
class Target:
    """A fixture model as every row scores it: its input columns and one fixed Spark result type."""

    name: str
    model_dir: Path
    columns: tuple[str, ...]
    result_type: str  # Spark DDL, the same in every row so that outputs compare


TARGETS = {
    # Its signature names the four columns; output: one class label per row.
    "mlflow_sklearn": Target("mlflow_sklearn", MODELS / "mlflow_sklearn", FEATURES, "string"),
    # No signature: spark_udf names the columns 0, 1, 2; weights are 3x2, so two outputs a row.
    "numpy_custom": Target("numpy_custom", MODELS / "numpy_custom", FEATURES[:3], "array<double>"),
}

# (spark, target, cache_dir) -> a UDF to call as udf(*target.columns), or None if not available.
# cache_dir is a directory the row may use for envs; row D gets it empty, row E as D left it.
UdfFactory = Callable[[Any, Target, Path], Any]


# ---- rows A to E: UDF factories -------------------------------------------------------------

# Per-Spark-Python-worker singletons. This module is shipped with addPyFile and imported on the
# workers, so the UDFs below are pickled by reference and these globals live as long as the
# worker (spark.python.worker.reuse). Globals of a __main__ function would be pickled by value
# and so rebuilt for every task.
_MODELS: dict[str, Any] = {}


def _model_for(model_dir: str, loads_dir: str) -> Any:
    if model_dir not in _MODELS:
        import mlflow.pyfunc

        _MODELS[model_dir] = mlflow.pyfunc.load_model(model_dir)
        Path(loads_dir, f"{os.getpid()}-{time.time_ns()}").touch()
    return _MODELS[model_dir]


def _as_series(output: Any, result_type: str) -> Any:
    import numpy as np
    import pandas as pd

    if result_type.startswith("array"):
        return pd.Series(list(np.asarray(output, dtype=np.float64)))
    return pd.Series(np.asarray(output).reshape(-1).astype(str))


def ceiling_udf(spark: Any, target: Target, cache_dir: Path) -> Any:
    """Row A: a pandas UDF that loads the model once per Python worker and predicts in-process."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    model_dir, columns, result_type = (
        str(target.model_dir),
        list(target.columns),
        target.result_type,
    )
    loads_dir = cache_dir / "loads"
    loads_dir.mkdir(parents=True, exist_ok=True)
    loads = str(loads_dir)

    def predict(batches):  # type: ignore[no-untyped-def]
        model = _model_for(model_dir, loads)
        for batch in batches:
            frame = pd.concat(list(batch), axis=1, keys=columns)
            yield _as_series(model.predict(frame), result_type)

    # pyspark picks the UDF kind (iterator of column tuples) from real, not string, annotations.
    predict.__annotations__ = {
        "batches": typing.Iterator[typing.Tuple[pd.Series, ...]],  # noqa: UP006
        "return": typing.Iterator[pd.Series],
    }
    return pandas_udf(predict, result_type)


def mlflow_local_udf(spark: Any, target: Target, cache_dir: Path) -> Any:
    """Row B: MLflow's spark_udf in the driver's own environment."""
    import mlflow.pyfunc

    return mlflow.pyfunc.spark_udf(
        spark, str(target.model_dir), result_type=target.result_type, env_manager="local"
    )


def mlflow_uv_udf(spark: Any, target: Target, cache_dir: Path) -> Any:
    """Row C: MLflow's spark_udf restoring the model's env with uv (built on the driver here)."""
    import mlflow.pyfunc

    return mlflow.pyfunc.spark_udf(
        spark, str(target.model_dir), result_type=target.result_type, env_manager="uv"
    )


def envrun_cold_udf(spark: Any, target: Target, cache_dir: Path) -> Any:
    """Row D: envrun.spark.udf with its cache at the empty cache_dir (the env is built on use)."""
    import envrun.spark

    return envrun.spark.udf(
        spark, str(target.model_dir), result_type=target.result_type, cache_dir=str(cache_dir)
    )


def envrun_warm_udf(spark: Any, target: Target, cache_dir: Path) -> Any:
    """Row E hook: as row D, on the cache row D filled (fresh Spark workers, env already built)."""
    return envrun_cold_udf(spark, target, cache_dir)


@dataclass(frozen=True)
class Row:
    """One benchmark row: a label and its UDF factory."""

    key: str
    label: str
    factory: UdfFactory
    fresh_cache: bool  # empty cache_dir before this row (D); E reuses what D left


# ---- the harness ------------------------------------------------------------------------------


@dataclass
class Result:
    """What one row measured on one model."""

    row: str
    model: str
    setup_s: float = 0.0  # the factory call (MLflow's uv row builds the env here)
    first_batch_s: float = 0.0  # first prediction back at the driver, fresh Python workers
    full_s: float = 0.0  # every row scored into Spark's noop sink, after the first batch
    rows: int = 0
    loads: int | None = None  # model loads counted by row A
    sample: str = ""
    error: str = ""

    @property
    def rows_per_s(self) -> float:
        """Throughput of the full run."""
        return self.rows / self.full_s if self.full_s else 0.0


def make_dataset(path: Path, rows: int, files: int) -> None:
    """N rows x 4 float64 columns in `files` Parquet files, the same for a given N."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if (path / "_rows").is_file() and (path / "_rows").read_text() == f"{rows} {files}":
        return
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    rng = np.random.default_rng(11)
    for i, chunk in enumerate(np.array_split(np.arange(rows), files)):
        data = rng.uniform(0.1, 7.9, size=(len(chunk), len(FEATURES)))
        table = pa.table({name: data[:, j] for j, name in enumerate(FEATURES)})
        pq.write_table(table, path / f"part-{i:03d}.parquet")
    (path / "_rows").write_text(f"{rows} {files}")


def new_session(split_bytes: int) -> Any:
    """A local[2] SparkSession (a new SparkContext, so new Python workers)."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("envrun-bench-spark")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH_ROWS))
        # One partition per Parquet file, so tasks (and MLflow's per-task costs) are --files.
        .config("spark.sql.files.maxPartitionBytes", str(split_bytes))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.addPyFile(str(Path(__file__).resolve()))
    return spark


def measure(row: Row, target: Target, data: Path, work: Path, split_bytes: int) -> Result:
    """Time one row on one model in its own SparkContext."""
    result = Result(row.key, target.name)
    cache_dir = work / f"cache-{target.name}"
    if row.fresh_cache:
        shutil.rmtree(cache_dir, ignore_errors=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(cache_dir / "loads", ignore_errors=True)
    spark = new_session(split_bytes)
    try:
        df = spark.read.parquet(str(data))
        result.rows = df.count()
        start = time.perf_counter()
        udf = row.factory(spark, target, cache_dir)
        result.setup_s = time.perf_counter() - start
        if udf is None:
            result.error = "not built yet"
            return result
        pred = udf(*target.columns).alias("prediction")
        start = time.perf_counter()
        first = df.select(pred).limit(1).collect()
        result.first_batch_s = time.perf_counter() - start
        result.sample = str(first[0][0])[:60]
        start = time.perf_counter()
        df.select("*", pred).write.format("noop").mode("overwrite").save()
        result.full_s = time.perf_counter() - start
        if (cache_dir / "loads").is_dir():
            result.loads = len(list((cache_dir / "loads").iterdir()))
    except Exception as exc:  # a failing row is a result; the other rows still run
        lines = [line for line in str(exc).splitlines() if line.strip()]
        result.error = f"{type(exc).__name__}: " + " | ".join(lines[-3:])[:400]
    finally:
        spark.stop()
    return result


def inferred_types(targets: list[Target], data: Path, split_bytes: int) -> list[str]:
    """The Spark type MLflow's spark_udf infers with result_type=None, for each model."""
    import mlflow.pyfunc

    spark = new_session(split_bytes)
    try:
        df = spark.read.parquet(str(data))
        lines = []
        for target in targets:
            udf = mlflow.pyfunc.spark_udf(spark, str(target.model_dir), env_manager="local")
            field = df.select(udf(*target.columns).alias("p")).schema["p"]
            lines.append(f"- {target.name}: spark_udf infers `{field.dataType.simpleString()}`")
        return lines
    finally:
        spark.stop()


def render(results: list[Result], header: str) -> str:
    """A Markdown table of the results."""
    out = [
        header,
        "",
        "| row | model | setup s | first batch s | full s | rows/s | loads | "
        "first prediction / error |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        if r.error:
            out.append(f"| {r.row} | {r.model} | {r.setup_s:.2f} | | | | | {r.error} |")
            continue
        loads = "" if r.loads is None else str(r.loads)
        out.append(
            f"| {r.row} | {r.model} | {r.setup_s:.2f} | {r.first_batch_s:.2f} | {r.full_s:.2f} "
            f"| {r.rows_per_s:,.0f} | {loads} | `{r.sample}` |"
        )
    return "\n".join(out)


def run_inside(args: argparse.Namespace) -> int:
    """Run the benchmark in the bench venv (this interpreter)."""
    # This file imported as a module: its UDF helpers then pickle by reference, not by value.
    import bench_spark as mod
    import pyspark

    # Workers run PYSPARK_PYTHON ("python3" on PATH by default), not the driver's interpreter;
    # mlflow runs "uv" from PATH; the bench venv's bin/ provides both.
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_TRACKING_URI", (work / "mlruns").as_uri())

    data = work / f"data-{args.rows}"
    start = time.perf_counter()
    make_dataset(data, args.rows, args.files)
    print(
        f"dataset: {args.rows:,} rows x 4 float64 in {args.files} Parquet files "
        f"({time.perf_counter() - start:.1f}s)",
        flush=True,
    )
    split_bytes = max(path.stat().st_size for path in data.glob("*.parquet"))

    targets = [mod.TARGETS[name] for name in args.models]
    inferred = inferred_types(targets, data, split_bytes)
    print("\n".join(inferred), flush=True)
    rows = [
        Row("A", "in-process pandas UDF, model once per worker", mod.ceiling_udf, False),
        Row("B", "mlflow spark_udf env_manager=local", mod.mlflow_local_udf, False),
        Row("C", "mlflow spark_udf env_manager=uv", mod.mlflow_uv_udf, False),
        Row("D", "envrun cold cache", mod.envrun_cold_udf, True),
        Row("E", "envrun warm cache", mod.envrun_warm_udf, False),
    ]
    results = []
    for target in targets:
        for row in rows:
            if args.only and row.key not in args.only:
                continue
            result = measure(row, target, data, work, split_bytes)
            results.append(result)
            print(render([result], f"{row.key}: {row.label}").splitlines()[-1], flush=True)

    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    header = (
        f"Spark benchmark: {args.rows:,} rows x 4 float64, {args.files} Parquet files (= tasks), "
        f"local[2], Arrow batches of {BATCH_ROWS:,} rows; pyspark {pyspark.__version__}, "
        f"Python {sys.version.split()[0]}, {java.stderr.splitlines()[0] if java.stderr else 'java?'}"
        f", {os.cpu_count()} cores.\n\n"
        + "\n".join(f"- {r.key}: {r.label}" for r in rows)
        + "\n\nEvery row asks for the same result type ("
        + ", ".join(f"{t.name}: `{t.result_type}`" for t in targets)
        + "); with result_type=None MLflow infers:\n"
        + "\n".join(inferred)
    )
    table = render(results, header)
    print("\n" + table)
    out = ROOT / "bench-results" / "spark.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")
    return 0


# ---- the venv ---------------------------------------------------------------------------------


def requirements(pyspark: str) -> tuple[list[str], list[str]]:
    """The venv's pins: pyspark, the tools, then each model's pins (the first model's win)."""
    pins: dict[str, str] = {}
    notes = []
    for target in TARGETS.values():
        for raw in (target.model_dir / "requirements.txt").read_text().splitlines():
            line = raw.split("#")[0].strip()
            if "==" not in line:
                continue
            name = line.split("==")[0].strip().lower()
            if name in pins and pins[name] != line:
                notes.append(f"{target.name} pins {line}; the bench venv has {pins[name]}")
                continue
            pins.setdefault(name, line)
    tools = {t.split("==")[0]: t for t in (f"pyspark=={pyspark}", *TOOLS)}
    return [*tools.values(), *(p for n, p in pins.items() if n not in tools)], notes


def ensure_venv(venv: Path, python: str, reqs: list[str]) -> Path:
    """Create or reuse the bench venv; install the pins and envrun from this tree."""
    marker = venv / "bench-spark.json"
    interpreter = venv / "bin" / "python"
    if not (marker.is_file() and json.loads(marker.read_text()).get("requirements") == reqs):
        shutil.rmtree(venv, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(interpreter), "-m", "pip", "install", "-q", *reqs], check=True)
        took = time.perf_counter() - start
        print(f"bench venv: installed {len(reqs)} pins in {took:.0f}s", flush=True)
        marker.write_text(json.dumps({"requirements": reqs, "install_s": round(took, 1)}))
    # envrun's own dependencies (filelock, platformdirs, ...), then envrun from this tree,
    # reinstalled every run so the hooks see the current code.
    subprocess.run([str(interpreter), "-m", "pip", "install", "-q", str(ROOT)], check=True)
    subprocess.run(
        [
            str(interpreter),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--force-reinstall",
            str(ROOT),
        ],
        check=True,
    )
    return interpreter


def main() -> int:
    """Parse flags; outside the bench venv make it and re-run there, inside run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=8, help="Parquet files, so Spark tasks")
    parser.add_argument("--models", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--only", nargs="+", default=[], choices=list("ABCDE"))
    parser.add_argument("--venv", default=str(ROOT / ".bench-venv-spark"))
    parser.add_argument("--python", default=sys.executable, help="interpreter for the venv")
    parser.add_argument("--pyspark", default=PYSPARK)
    parser.add_argument("--work", default=str(ROOT / ".bench-venv-spark" / "work"))
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        return run_inside(args)
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        print("bench_spark: no java on PATH and no JAVA_HOME; Spark needs Java 17", file=sys.stderr)
        return 2
    reqs, notes = requirements(args.pyspark)
    for note in notes:
        print(f"bench venv: {note}", flush=True)
    interpreter = ensure_venv(Path(args.venv).resolve(), args.python, reqs)
    argv = [str(interpreter), str(Path(__file__).resolve()), "--inside", *sys.argv[1:]]
    return subprocess.run(argv, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
