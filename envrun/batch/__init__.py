"""Batch scoring: files through a pool of persistent workers (`run_batch`), and Spark (`spark/`)."""

from envrun.batch.scoring import (
    BatchOptions,
    BatchProgress,
    BatchResult,
    SkippedBatch,
    run_batch,
)

__all__ = ["BatchOptions", "BatchProgress", "BatchResult", "SkippedBatch", "run_batch"]
