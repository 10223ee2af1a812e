"""The executor side of envrun.spark.udf: one persistent pool per Spark Python worker process.

Spark reuses its Python workers across tasks, so the pool lives in a module-level registry keyed
by the env's fingerprint and the model directory: the env is ensured (under the cache's lock,
so concurrent first tasks on a node build it once) and the model loaded once per Python worker,
not per partition. Pool workers die with the Python worker (end of input, PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from envrun.batch.frames import encode_batch, wire_format
from envrun.batch.spark.types import shape_result
from envrun.errors import EnvrunError, PredictError, SpecError
from envrun.run.pool import Pool
from envrun.settings import Settings, make_settings

_LOCK = threading.Lock()
_POOLS: dict[tuple[str, str], tuple[Pool, str]] = {}
# What closes each pool and lets go of its env (api.open_pool's context, kept open).
_STACKS: dict[tuple[str, str], ExitStack] = {}


def settings_for(spec: dict[str, Any]) -> Settings:
    """Settings on this executor: the udf's arguments, else this node's ENVRUN_* variables
    (spark.executorEnv.ENVRUN_CACHE_DIR sets a node-local cache), else the defaults."""
    return make_settings(
        cache_dir=spec.get("cache_dir"),
        installer=spec.get("installer"),
        python=spec.get("python"),
        timeout=spec.get("timeout"),
        trust_model=bool(spec.get("trust_model")),
    )


def probe(settings: Settings) -> None:
    """Fail at once, in one clear message, when this node's cache dir cannot be written."""
    root = settings.cache_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".envrun-probe-"):
            pass
    except OSError as exc:
        raise SpecError(
            "the envrun cache dir is not writable on this Spark executor",
            value=f"{root} on host {os.uname().nodename}: {exc}",
            fix="point every executor at a node-local writable dir: spark.executorEnv."
            "ENVRUN_CACHE_DIR=/local/dir (or udf(..., cache_dir=...))",
        ) from None


def pool_for(spec: dict[str, Any]) -> tuple[Pool, str]:
    """This process's pool for the spec (started on first use) and its wire format."""
    from envrun import api

    key = (str(spec["fingerprint"]), str(spec["model_dir"]))
    with _LOCK:
        found = _POOLS.get(key)
        if found is not None:
            return found
        settings = settings_for(spec)
        probe(settings)
        stack = ExitStack()
        # The shipped copy is what loads here: open_pool scans it, holds its env in use and
        # starts the worker, as for every other pool; the stack keeps all that open.
        pool = stack.enter_context(
            api.open_pool(_model_dir(spec), settings, workers=1, want_packages=True)
        )
        atexit.register(stack.close)
        found = (pool, wire_format(pool.workers()[0].packages))
        _POOLS[key], _STACKS[key] = found, stack
        return found


def _model_dir(spec: dict[str, Any]) -> Path:
    """The model as shipped with the job (SparkFiles), else the driver's path."""
    shipped = spec.get("shipped")
    if shipped:
        try:
            from pyspark import SparkFiles

            path = Path(SparkFiles.get(shipped))
            if (path / "MLmodel").is_file():
                return path
        except Exception:  # noqa: S110 - no SparkContext files here: the driver's path
            pass
    return Path(spec["model_dir"])


def score(spec: dict[str, Any], frame: Any, result_type: Any) -> Any:
    """Predict one batch of a pandas UDF (a DataFrame of the model's input columns)."""
    import pyarrow as pa

    frame = frame.reset_index(drop=True)
    pool, wire = pool_for(spec)
    data, fmt = encode_batch(pa.RecordBatch.from_pandas(frame, preserve_index=False), wire)
    try:
        answer = pool.predict(data, fmt, params=spec.get("params"))
    except PredictError as exc:
        # Spark shows only str(exception): carry the model's own traceback in it.
        exc.args = (f"{exc.render()}\ntraceback from the model's process:\n{exc.traceback}",)
        raise
    except EnvrunError:
        raise
    return shape_result(answer.value, len(frame), result_type)


def close_all() -> None:
    """Close every pool of this process (tests; Spark's worker exit does it through atexit)."""
    with _LOCK:
        stacks = list(_STACKS.values())
        _POOLS.clear()
        _STACKS.clear()
    for stack in stacks:
        stack.close()
