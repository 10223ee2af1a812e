"""Batch scoring, side by side: `envrun batch` against a plain in-process pandas loop, and
envrun.spark.udf (cold and warm cache) against an in-process pandas UDF (the ceiling), on the
numpy_custom fixture. Prints a Markdown table.

Usage: python scripts/bench_batch.py [--rows N] [--no-spark]    (needs envrun[batch,spark])
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "fixtures" / "models" / "numpy_custom"
COLUMNS = ("x0", "x1", "x2")


def make_input(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(rows, len(COLUMNS)))
    pq.write_table(pa.table({c: data[:, i] for i, c in enumerate(COLUMNS)}), path)


def load_in_process() -> object:
    sys.path.insert(0, str(MODEL / "code"))
    return importlib.import_module("numpy_linear")._load_pyfunc(str(MODEL / "data"))


def pandas_loop(source: Path, out: Path, batch_size: int) -> float:
    start = time.perf_counter()
    model = load_in_process()
    writer = None
    for batch in pq.ParquetFile(source).iter_batches(batch_size=batch_size):
        frame = batch.to_pandas()
        pred = model.predict(frame.to_numpy())  # type: ignore[attr-defined]
        for i in range(pred.shape[1]):
            frame[f"prediction_{i}"] = pred[:, i]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(out, table.schema)
        writer.write_table(table)
    if writer:
        writer.close()
    return time.perf_counter() - start


def envrun_batch(source: Path, out: Path, cache: Path, batch_size: int, workers: int) -> float:
    from envrun.batch import BatchOptions, run_batch
    from envrun.settings import make_settings

    start = time.perf_counter()
    run_batch(MODEL, source, out, make_settings(cache_dir=str(cache)),
              BatchOptions(batch_size=batch_size, workers=workers))  # fmt: skip
    return time.perf_counter() - start


def spark_rows(source: Path, cache: Path, rows: int) -> list[tuple[str, float, float]]:
    import pandas as pd
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import pandas_udf

    from envrun.spark import udf

    spark = (
        SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
    )
    spark.sparkContext.pythonExec = sys.executable
    df = spark.read.parquet(str(source)).repartition(2).cache()
    df.count()
    code = str(MODEL / "code")
    data = str(MODEL / "data")

    def ceiling(frame: pd.DataFrame) -> pd.Series:
        holder = sys.modules.get("_bench_model")
        if holder is None:
            sys.path.insert(0, code)
            holder = importlib.import_module("numpy_linear")._load_pyfunc(data)
            sys.modules["_bench_model"] = holder  # type: ignore[assignment]
        return pd.Series(list(holder.predict(frame.to_numpy())))  # type: ignore[attr-defined]

    from pyspark.sql.functions import struct

    ceiling.__annotations__ = {"frame": pd.DataFrame, "return": pd.Series}  # real classes for Spark
    results = []
    cases = [
        ("(A) in-process pandas UDF, model loaded once per worker", pandas_udf(ceiling, "array<double>")),  # type: ignore[call-overload]
        ("(D) envrun.spark.udf, cold cache", udf(spark, MODEL, "array<double>", cache_dir=str(cache / "cold"))),
        ("(E) envrun.spark.udf, warm cache", udf(spark, MODEL, "array<double>", cache_dir=str(cache / "cold"))),
    ]
    for label, function in cases:
        first_start = time.perf_counter()
        df.limit(1000).withColumn("p", function(struct(*COLUMNS))).collect()
        first = time.perf_counter() - first_start
        start = time.perf_counter()
        df.withColumn("p", function(struct(*COLUMNS))).write.mode("overwrite").format("noop").save()
        results.append((label, rows / (time.perf_counter() - start), first))
    spark.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="envrun-bench-batch-") as tmp:
        root = Path(tmp)
        source = root / "in.parquet"
        make_input(source, args.rows)
        print(f"{args.rows:,} rows x {len(COLUMNS)} floats, numpy_custom, batch size {args.batch_size:,}\n")
        print("| measurement | seconds | rows/s | first batch |")
        print("| --- | --- | --- | --- |")
        envrun_batch(source, root / "warmup.parquet", root / "cache", args.batch_size, 1)
        loop = pandas_loop(source, root / "loop.parquet", args.batch_size)
        print(f"| plain in-process pandas loop | {loop:.2f} | {args.rows / loop:,.0f} | |")
        for workers in (1, 2):
            took = envrun_batch(source, root / "out.parquet", root / "cache", args.batch_size, workers)
            print(f"| `envrun batch`, warm env, {workers} worker(s) | {took:.2f} | {args.rows / took:,.0f} | |")
        if not args.no_spark:
            for label, rate, first in spark_rows(source, root / "spark-cache", args.rows):
                print(f"| {label} | | {rate:,.0f} | {first:.2f} s |")


if __name__ == "__main__":
    main()
