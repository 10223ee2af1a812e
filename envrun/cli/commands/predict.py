"""`envrun predict`: run the model inside its own cached env and print its predictions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envrun.cli.options import (
    Subparsers,
    add_device_option,
    add_env_options,
    add_model_dir,
    add_output_file,
    add_verb,
    write_output,
)
from envrun.errors import EXIT_OK

if TYPE_CHECKING:
    from envrun.api import PredictRun
    from envrun.cli.reporter import TerminalReporter
    from envrun.settings import Settings


def register(subparsers: Subparsers) -> None:
    """Add `predict` and its flags."""
    p = add_verb(
        subparsers,
        "predict",
        help="predict with a model inside its own cached env",
        description="Build (once) the env the model declares, then run the model's predict "
        'inside it. Prints MLflow-compatible JSON ({"predictions": ...}).',
    )
    add_model_dir(p)
    p.add_argument(
        "input",
        metavar="INPUT",
        help="input file: MLflow serving JSON (dataframe_split, dataframe_records, instances, "
        "inputs), CSV, .npy or .npz; '-' reads stdin",
    )
    add_output_file(p, "write the predictions JSON here instead of stdout")
    p.add_argument(
        "--format",
        dest="input_format",
        choices=("json", "csv", "npy", "npz"),
        help="input format (default: from the extension or content)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON document with predictions, lossless output, env and timings",
    )
    p.add_argument(
        "--locked",
        metavar="FILE",
        help="build the env from this lock file (from `envrun lock`), hash-checked",
    )
    add_env_options(p, rebuild=True, timeout=True)
    add_device_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    """Predict and print (or write) the predictions."""
    from envrun import api

    result = api.predict(
        args.model_dir,
        args.input,
        settings,
        fmt=args.input_format,
        stdin=sys.stdin.buffer if args.input == "-" else None,
        locked=Path(args.locked) if args.locked else None,
    )
    for warning in result.prediction.warnings:
        reporter.warn(warning)
    if args.verbose:
        _verbose_run(result, reporter)
    text = (
        json.dumps(_run_document(result), indent=2)
        if args.json
        else result.prediction.predictions_text
    )
    if args.output:
        write_output(Path(args.output), text)
    else:
        reporter.result(text)
    return EXIT_OK


def _run_document(run: PredictRun) -> dict[str, Any]:
    pred = run.prediction
    return {
        "predictions": json.loads(pred.predictions_text, parse_constant=lambda c: c)["predictions"],
        "output": pred.jsonable,
        "summary": pred.summary,
        "env": {
            "path": str(run.env.path),
            "fingerprint": run.env.fingerprint,
            "cache": "miss" if run.env.built else "hit",
            "reason": run.env.reason,
            "python": pred.python,
            "installer": run.resolution.installer.value,
            "installer_reason": run.resolution.installer.reason,
        },
        "timings": {**run.timings, **{f"worker_{k}": v for k, v in pred.timings.items()}},
        "warnings": list(run.warnings),
    }


def _verbose_run(run: PredictRun, reporter: TerminalReporter) -> None:
    pred = run.prediction
    cache = "built" if run.env.built else "cache hit"
    reporter.step(f"env {run.env.path} ({cache}; fingerprint {run.env.fingerprint[:16]})")
    reporter.step(f"output: {pred.summary}")
    timing = ", ".join(f"{k} {v:.3f}s" for k, v in run.timings.items())
    reporter.step(f"timings: {timing}")
    for name, text in (("stdout", pred.stdout), ("stderr", pred.stderr)):
        if text.strip():
            reporter.step(f"model {name}:\n{text.rstrip()}")
