"""`envrun batch`: score a file or a directory of part files through a pool of persistent workers.

Batches are read in order, sent to N workers (each holds the model, loaded once), and written
in input order; at most two batches per worker are in flight, so memory stays bounded whatever
the input's size. The output file appears only when the run succeeds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from envrun.batch.files import (
    Chunk,
    OutputWriter,
    count_rows,
    input_files,
    output_format,
    read_chunks,
)
from envrun.batch.frames import (
    PREDICTION,
    encode_batch,
    need_pyarrow,
    prediction_columns,
    wire_format,
)
from envrun.errors import EnvrunError, InputError
from envrun.run.pool import Pool
from envrun.settings import Settings

OnError = Literal["fail", "skip"]


@dataclass(frozen=True)
class BatchOptions:
    """How to cut, score and write the batches."""

    batch_size: int = 10_000
    workers: int = 1
    on_error: OnError = "fail"
    predictions_only: bool = False
    prediction_column: str = PREDICTION
    input_format: str | None = None  # parquet | csv | jsonl; default from the file names
    output_format: str | None = None  # parquet | csv; default from the output's suffix
    timeout: float | None = None  # per batch; default settings.timeout


@dataclass(frozen=True)
class BatchProgress:
    """Rows scored so far; `total` is known for Parquet input only."""

    rows: int
    total: int | None
    seconds: float

    @property
    def rate(self) -> float:
        """Rows per second so far."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far, when the total is known."""
        if self.total is None or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.rows) / self.rate)


@dataclass(frozen=True)
class SkippedBatch:
    """A batch left out under on_error="skip": where it was and what the model said."""

    file: Path
    first_row: int
    rows: int
    offset: int
    where: str
    error_type: str
    message: str


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did."""

    output: Path
    rows_in: int
    rows_out: int
    batches: int
    skipped: tuple[SkippedBatch, ...]
    seconds: float
    wire_format: str  # how batches crossed to the workers: arrow, npz, npy or json
    workers: int


def run_batch(
    model_dir: str | Path,
    source: str | Path,
    output: str | Path,
    settings: Settings,
    options: BatchOptions | None = None,
    *,
    on_progress: Callable[[BatchProgress], None] | None = None,
) -> BatchResult:
    """Score every row of `source` with the model and write them to `output`."""
    from envrun import api

    opts = options or BatchOptions()
    if opts.batch_size < 1 or opts.workers < 1:
        raise InputError(
            "batch size and workers must be at least 1",
            value=f"batch_size={opts.batch_size}, workers={opts.workers}",
            fix="pass positive numbers",
        )
    need_pyarrow()
    files, fmt = input_files(Path(source), opts.input_format)
    out_path = Path(output)
    writer = OutputWriter(out_path, output_format(out_path, opts.output_format))
    total = count_rows(files, fmt)
    start = time.monotonic()
    timeout = settings.timeout if opts.timeout is None else opts.timeout
    with api.open_pool(model_dir, settings, workers=opts.workers, timeout=timeout, want_packages=True) as pool:
        run = _Run(pool, opts, writer, wire_format(pool.workers()[0].packages))
        ok = False
        try:
            run.score(read_chunks(files, fmt, opts.batch_size), total, start, on_progress)
            ok = True
        finally:
            writer.close(keep=ok, empty=run.empty)
    return BatchResult(
        output=out_path,
        rows_in=run.rows_in,
        rows_out=writer.rows,
        batches=run.batches,
        skipped=tuple(run.skipped),
        seconds=time.monotonic() - start,
        wire_format=run.wire,
        workers=opts.workers,
    )


class _Run:
    def __init__(self, pool: Pool, opts: BatchOptions, writer: OutputWriter, wire: str) -> None:
        self.pool = pool
        self.opts = opts
        self.writer = writer
        self.wire = wire
        self.rows_in = self.rows_done = self.batches = 0
        self.skipped: list[SkippedBatch] = []
        self.empty: Any = None

    def score(
        self,
        chunks: Any,
        total: int | None,
        start: float,
        on_progress: Callable[[BatchProgress], None] | None,
    ) -> None:
        limit = 2 * self.opts.workers
        pending: deque[tuple[Chunk, Future[list[tuple[str, Any]]]]] = deque()
        with ThreadPoolExecutor(self.opts.workers, thread_name_prefix="envrun-batch") as executor:
            try:
                for chunk in chunks:
                    if self.empty is None and not self.opts.predictions_only:
                        self.empty = chunk.batch.slice(0, 0)
                    pending.append((chunk, executor.submit(self._predict, chunk)))
                    while len(pending) >= limit:
                        self._drain(*pending.popleft())
                        self._progress(total, start, on_progress)
                while pending:
                    self._drain(*pending.popleft())
                    self._progress(total, start, on_progress)
            finally:
                for _, future in pending:
                    future.cancel()
        if self.empty is not None:
            self.empty = need_pyarrow().Table.from_batches([self.empty])

    def _progress(
        self, total: int | None, start: float, on_progress: Callable[[BatchProgress], None] | None
    ) -> None:
        if on_progress is not None:
            on_progress(BatchProgress(self.rows_done, total, time.monotonic() - start))

    def _predict(self, chunk: Chunk) -> list[tuple[str, Any]]:
        data, fmt = encode_batch(chunk.batch, self.wire)
        answer = self.pool.predict(data, fmt)
        return prediction_columns(answer.value, chunk.rows, self.opts.prediction_column)

    def _drain(self, chunk: Chunk, future: Future[list[tuple[str, Any]]]) -> None:
        self.rows_in += chunk.rows
        self.rows_done += chunk.rows
        self.batches += 1
        try:
            columns = future.result()
        except EnvrunError as exc:
            if self.opts.on_error == "fail":
                raise _naming_batch(exc, chunk) from None
            self.skipped.append(
                SkippedBatch(
                    file=chunk.file,
                    first_row=chunk.first_row,
                    rows=chunk.rows,
                    offset=chunk.offset,
                    where=chunk.where(),
                    error_type=str(getattr(exc, "error_type", "") or type(exc).__name__),
                    message=exc.what,
                )
            )
            return
        self.writer.write(self._table(chunk, columns))

    def _table(self, chunk: Chunk, columns: list[tuple[str, Any]]) -> Any:
        pa = need_pyarrow()
        names: list[str] = [] if self.opts.predictions_only else list(chunk.batch.schema.names)
        arrays: list[Any] = [] if self.opts.predictions_only else list(chunk.batch.columns)
        for label, array in columns:
            name = label
            if name in names:
                name = f"{self.opts.prediction_column}_{label}"
            if name in names:
                raise InputError(
                    "a prediction column has the name of an input column",
                    value=label,
                    fix="pass another --prediction-column, or --predictions-only",
                )
            names.append(name)
            arrays.append(array)
        return pa.Table.from_arrays(arrays, names=names)


def _naming_batch(exc: EnvrunError, chunk: Chunk) -> EnvrunError:
    """The same error, its first line naming the batch's row range."""
    exc.what = f"batch {chunk.where()}: {exc.what}"
    exc.args = (exc.render(),)
    return exc
