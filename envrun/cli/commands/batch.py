"""`envrun batch`: score a Parquet, CSV or JSON Lines file (or a directory of them) to a file."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from envrun.cli.options import Subparsers, add_env_options, add_model_dir, add_verb
from envrun.errors import EXIT_MODEL, EXIT_OK

if TYPE_CHECKING:
    from envrun.batch import BatchProgress
    from envrun.cli.reporter import TerminalReporter
    from envrun.settings import Settings


def register(subparsers: Subparsers) -> None:
    """Add `batch` and its flags."""
    p = add_verb(
        subparsers,
        "batch",
        help="score a file or a directory of part files, in batches, to a file",
        description="Build (once) the env the model declares, start N persistent workers in it "
        "(each loads the model once), stream INPUT through them in batches and write the input "
        "columns plus the predictions to OUTPUT. Needs pyarrow on the host: "
        "pip install 'envrun[batch]'.",
    )
    add_model_dir(p)
    p.add_argument(
        "input",
        metavar="INPUT",
        help="a Parquet, CSV or JSON Lines file, or a directory of such part files",
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", required=True, help="output file (.parquet or .csv)"
    )
    p.add_argument(
        "--batch-size", type=int, default=10_000, metavar="N", help="rows per batch (10000)"
    )
    p.add_argument("--workers", type=int, default=1, metavar="N", help="model workers (1)")
    p.add_argument(
        "--on-error",
        choices=("fail", "skip"),
        default="fail",
        help="a batch the model fails on stops the run (fail, the default) or is left out (skip)",
    )
    p.add_argument(
        "--predictions-only",
        action="store_true",
        help="write only the prediction column(s), not the input columns",
    )
    p.add_argument(
        "--prediction-column",
        default="prediction",
        metavar="NAME",
        help="name of the prediction column (prefix for several; default: prediction)",
    )
    p.add_argument("--input-format", choices=("parquet", "csv", "jsonl"), help="default: by suffix")
    p.add_argument("--output-format", choices=("parquet", "csv"), help="default: by suffix")
    add_env_options(p, rebuild=True, timeout=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    """Score the input and report rows, speed and skipped batches."""
    from envrun.batch import BatchOptions, run_batch

    options = BatchOptions(
        batch_size=args.batch_size,
        workers=args.workers,
        on_error=args.on_error,
        predictions_only=args.predictions_only,
        prediction_column=args.prediction_column,
        input_format=args.input_format,
        output_format=args.output_format,
    )

    def progress(state: BatchProgress) -> None:
        reporter.line(progress_line(state))

    result = run_batch(args.model_dir, args.input, args.output, settings, options, on_progress=progress)
    for skipped in result.skipped:
        reporter.warn(f"skipped {skipped.where}: {skipped.message}")
    rate = result.rows_out / result.seconds if result.seconds > 0 else 0.0
    reporter.step(
        f"wrote {result.rows_out:,} of {result.rows_in:,} rows to {result.output} in "
        f"{result.seconds:.1f}s ({rate:,.0f} rows/s; {result.batches} batches, {result.workers} "
        f"workers, {result.wire_format} to the workers)"
    )
    if result.rows_in and not result.rows_out:
        return EXIT_MODEL  # every batch failed: the run produced nothing
    return EXIT_OK


def progress_line(state: BatchProgress) -> str:
    """"1,200,000 / 4,000,000 rows  30% | 85,000 rows/s | ETA 0:33"."""
    rate = f"{state.rate:,.0f} rows/s"
    if state.total:
        share = 100 * state.rows / state.total
        eta = state.eta
        left = "?" if eta is None else f"{int(eta) // 60}:{int(eta) % 60:02d}"
        return f"{state.rows:,} / {state.total:,} rows  {share:3.0f}% | {rate} | ETA {left}"
    return f"{state.rows:,} rows | {rate}"
