"""envrun.spark.udf: a pandas UDF that scores a Spark DataFrame in the model's own env.

The UDF's closure carries a small spec (model dir, settings, env fingerprint, column names),
never the model: each executor builds or reuses the env in its own cache and keeps one
persistent worker per Spark Python worker (see executor.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from envrun.batch.spark.types import infer_ddl
from envrun.errors import InputError


def udf(
    spark: Any,
    model_dir: str | Path,
    result_type: Any = None,
    *,
    cache_dir: str | None = None,
    installer: str | None = None,
    python: str | None = None,
    timeout: float | None = None,
    params: dict[str, Any] | None = None,
    ship_model: bool = True,
    trust_model: bool = False,
) -> Callable[..., Any]:
    """A UDF for `df.withColumn("p", f("a", "b"))`, `f(struct(...))` or `f()` (the signature's
    columns), shaped like mlflow.pyfunc.spark_udf; `result_type` is inferred as MLflow does.

    `cache_dir` is the env cache on every executor (default: each executor's ENVRUN_CACHE_DIR,
    e.g. spark.executorEnv.ENVRUN_CACHE_DIR, else its user cache dir). `params` go to every
    predict call, as spark_udf's `params`. With `ship_model`, the
    model directory is sent with the job (SparkContext.addFile), so executors need no shared disk.
    The model's pickles are scanned here and on each executor before the first load (a dangerous
    finding raises UnsafeModelError) unless `trust_model`.
    """
    from pyspark.sql.functions import col, struct
    from pyspark.sql.pandas.functions import pandas_udf
    from pyspark.sql.types import DataType

    from envrun import api
    from envrun.model.mlmodel import read_model
    from envrun.settings import make_settings

    root = Path(model_dir).absolute()
    model = read_model(root)
    settings = make_settings(
        cache_dir=cache_dir, installer=installer, python=python, trust_model=trust_model
    )
    api.gate_load(root, settings)  # refuse an unsafe model on the driver, before any job runs
    fingerprint = api.resolve_model(model, settings).fingerprint
    shipped = None
    if ship_model:
        spark.sparkContext.addFile(str(root), recursive=True)
        shipped = root.name
    chosen = infer_ddl(model.signature_outputs) if result_type is None else result_type
    spark_type = chosen if isinstance(chosen, DataType) else _parse_ddl(spark, chosen)
    signature_columns = [
        str(spec["name"]) for spec in model.signature_inputs or [] if spec.get("name")
    ]
    spec = {
        "model_dir": str(root),
        "shipped": shipped,
        "fingerprint": fingerprint,
        "cache_dir": cache_dir,
        "installer": installer,
        "python": python,
        "timeout": timeout,
        "params": params,
        "trust_model": trust_model,
    }
    scorer = _scorer(spec, spark_type)

    def call(*args: Any) -> Any:
        if not args:
            if not signature_columns:
                raise InputError(
                    "the model has no column signature to take the UDF's columns from",
                    value=str(root),
                    fix="name the input columns: udf('a', 'b') or udf(struct(...))",
                )
            args = tuple(signature_columns)
        columns = [col(a) if isinstance(a, str) else a for a in args]
        if len(args) == 1 and not isinstance(args[0], str):
            packed = columns[0]  # udf(struct(...)): the struct's fields are the model's columns
        else:
            # One struct column carries every input with its name, as the model sees them:
            # the names given, else the signature's when the counts match, else 0, 1, ...
            if all(isinstance(a, str) for a in args):
                names = [str(a) for a in args]
            elif len(signature_columns) == len(args):
                names = signature_columns
            else:
                names = [str(i) for i in range(len(args))]
            packed = struct(*(c.alias(n) for c, n in zip(columns, names, strict=True)))
        return pandas_udf(scorer, returnType=spark_type)(packed)  # type: ignore[call-overload]

    call.result_type = spark_type  # type: ignore[attr-defined]
    call.spec = spec  # type: ignore[attr-defined]
    return call


def _parse_ddl(spark: Any, ddl: str) -> Any:
    """A DDL type string as a Spark DataType (Spark 4 parses it directly; 3.5 through a cast)."""
    from pyspark.sql.types import DataType

    try:
        if hasattr(DataType, "fromDDL"):
            return DataType.fromDDL(ddl)
        return _cast_type(spark, ddl)
    except Exception as exc:
        raise InputError(
            "the UDF's result type is not a Spark type",
            value=f"{ddl}: {exc}",
            fix="pass a pyspark.sql.types DataType or a DDL string such as 'double' or "
            "'struct<label: string, score: double>'",
        ) from None


def _cast_type(spark: Any, ddl: str) -> Any:
    """Spark 3.5: the type of a cast to `ddl`; a bare field list ("a double, b string") is a
    struct, as Spark 4's DataType.fromDDL reads it."""
    def cast(text: str) -> Any:
        return spark.range(0).selectExpr(f"CAST(NULL AS {text}) AS p").schema["p"].dataType

    try:
        return cast(ddl)
    except Exception:
        return cast(f"struct<{ddl}>")


def _scorer(spec: dict[str, Any], result_type: Any) -> Callable[..., Any]:
    """The function Spark ships to executors: plain data in its closure and nothing of envrun
    at module level, so a node without envrun gets one clear error instead of an unpickling
    failure deep in Spark."""

    import pandas as pd
    from pyspark.sql.types import StructType

    def score(frame: Any) -> Any:
        try:
            from envrun.batch.spark import executor
        except ImportError as exc:
            import socket
            import sys

            raise RuntimeError(
                f"envrun is not installed on the Spark executors: {exc}\n"
                f"  offending value: {sys.executable} on host {socket.gethostname()}\n"
                "  fix: install envrun (with its spark extra) into the executors' Python, "
                "or set spark.pyspark.python to an interpreter that has it"
            ) from None
        return executor.score(spec, frame, result_type)

    # Real classes, not postponed strings: Spark reads the hints to pick the pandas UDF kind.
    returns = pd.DataFrame if isinstance(result_type, StructType) else pd.Series
    score.__annotations__ = {"frame": pd.DataFrame, "return": returns}
    return score
