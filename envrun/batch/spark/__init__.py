"""Scoring on Apache Spark: the driver-side UDF and the executor-side pool registry."""

from envrun.batch.spark.driver import udf
from envrun.batch.spark.types import infer_ddl

__all__ = ["infer_ddl", "udf"]
