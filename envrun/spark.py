"""`envrun.spark.udf(spark, model_dir, result_type=None, ...)`: score Spark DataFrames with a
model in its own env, shaped like mlflow.pyfunc.spark_udf (needs `envrun[spark]`)."""

from envrun.batch.spark import udf

__all__ = ["udf"]
