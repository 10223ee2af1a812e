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
        "inputs",
        metavar="INPUT",
        nargs="+",
        help="input file: MLflow serving JSON (dataframe_split, dataframe_records, instances, "
        "inputs), CSV, .npy or .npz; '-' reads stdin. Several inputs (or a directory of them) "
        "run on one worker that loads the model once, and print one JSON line per input",
    )
    add_output_file(
        p,
        "write the predictions JSON here instead of stdout (with several inputs: a directory, "
        "one INPUT_NAME.json per input)",
    )
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

    sources = _expand(args.inputs)
    if len(sources) != 1 or Path(args.inputs[0]).is_dir():
        return _run_many(args, sources, settings, reporter)
    source = sources[0]
    result = api.predict(
        args.model_dir,
        source,
        settings,
        fmt=args.input_format,
        stdin=sys.stdin.buffer if source == "-" else None,
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


def _expand(inputs: list[str]) -> list[str]:
    """The input files: each argument, or the regular, non-hidden files of a directory, sorted."""
    sources: list[str] = []
    for item in inputs:
        path = Path(item)
        if item != "-" and path.is_dir():
            sources += sorted(
                str(child)
                for child in path.iterdir()
                if child.is_file() and not child.name.startswith(".")
            )
        else:
            sources.append(item)
    return sources


def _run_many(
    args: argparse.Namespace, sources: list[str], settings: Settings, reporter: TerminalReporter
) -> int:
    """Several inputs on one worker: one JSON line each on stdout, or one file each in -o DIR."""
    from envrun import api
    from envrun.errors import InputError

    if not sources:
        raise InputError(
            "no input files to predict",
            value=" ".join(args.inputs),
            fix="name input files, or a directory holding some",
        )
    if "-" in sources:
        raise InputError(
            "stdin ('-') can only be the single input",
            value="-",
            fix="save stdin to a file, or predict it alone",
        )
    if args.json:
        raise InputError(
            "--json describes one prediction",
            value="--json",
            fix="predict one input at a time with --json",
        )
    out_dir = Path(args.output) if args.output else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    names: set[str] = set()
    for item in api.predict_many(
        args.model_dir,
        sources,
        settings,
        fmt=args.input_format,
        locked=Path(args.locked) if args.locked else None,
    ):
        for warning in item.warnings:
            reporter.warn(f"{item.source}: {warning}")
        text = item.prediction.predictions_text
        if out_dir is None:
            reporter.result(text)
            continue
        name = Path(item.source).stem
        while name in names:  # a.json and a.csv both become a*.json, never one overwriting
            name += "_"
        names.add(name)
        write_output(out_dir / f"{name}.json", text)
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
