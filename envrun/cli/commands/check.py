"""`envrun check`: does the packaged model still give the same answers?"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from envrun.cli.options import Subparsers, add_env_options, add_model_dir, add_verb

if TYPE_CHECKING:
    from envrun.cli.reporter import TerminalReporter
    from envrun.settings import Settings


def register(subparsers: Subparsers) -> None:
    """Add `check` and its flags."""
    c = add_verb(
        subparsers,
        "check",
        help="prove the model reproduces: env vs host vs baseline (vs an upgraded env)",
        description="Run the same inputs in the model's declared env, in this process, against a "
        "stored baseline and optionally in a second env with relaxed or swapped pins; compare the "
        "outputs with a typed, tolerance-aware diff and write a report. Exit 0 when every "
        "comparison reproduced, 1 when one differs or nothing could be compared. A model "
        "without an input example gets a synthetic input built from its signature; "
        "--load-only builds and loads it without predicting.",
    )
    add_model_dir(c)
    c.add_argument(
        "inputs",
        metavar="INPUT",
        nargs="*",
        help="input files (default: the model's serving_input_example.json or "
        "input_example.json, else a synthetic input built from its signature)",
    )
    c.add_argument(
        "--load-only",
        action="store_true",
        help="build the env and load the model, predict nothing: a smoke test for a model "
        "with neither an input example nor a signature (exit 0 when it loads, 4 when not)",
    )
    c.add_argument("--baseline", metavar="FILE", help="compare against outputs stored in FILE")
    c.add_argument(
        "--save-baseline",
        metavar="FILE",
        help="store the env's outputs (lossless) with its environment in FILE",
    )
    c.add_argument(
        "--against",
        choices=("upgraded",),
        help="also build an env whose pins are relaxed to the newest versions that resolve today",
    )
    c.add_argument(
        "--with",
        dest="overrides",
        action="append",
        default=[],
        metavar="REQ",
        help="also build an env with this requirement swapped in, e.g. 'numpy==2.3.0' (repeatable)",
    )
    c.add_argument(
        "--rtol", type=float, metavar="R", help="relative tolerance (default: per dtype)"
    )
    c.add_argument(
        "--atol", type=float, metavar="A", help="absolute tolerance (default: per dtype)"
    )
    c.add_argument(
        "--report",
        action="append",
        default=[],
        metavar="FILE",
        help="write the report; the format follows the suffix: .json, .md, .html (repeatable)",
    )
    c.add_argument("--no-host", action="store_true", help="do not run the model in this process")
    c.add_argument("--json", action="store_true", help="print the JSON report to stdout")
    add_env_options(c, rebuild=True, timeout=True)
    c.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    """Check the model, write the reports, print the verdict; 1 when something differs."""
    from envrun.check.compare import Tolerance
    from envrun.check.report import (
        append_step_summary,
        render_json,
        render_terminal,
        report_format,
        write_reports,
    )
    from envrun.check.run import CheckOptions, run_check
    from envrun.errors import InputError

    for name, value in (("--rtol", args.rtol), ("--atol", args.atol)):
        if value is not None and not value >= 0:
            raise InputError(
                f"{name} must be a number >= 0", value=str(value), fix=f"e.g. {name} 1e-6"
            )
    if args.load_only:
        given = [
            flag
            for flag, value in (
                ("INPUT", args.inputs),
                ("--baseline", args.baseline),
                ("--save-baseline", args.save_baseline),
                ("--against", args.against),
                ("--with", args.overrides),
            )
            if value
        ]
        if given:
            raise InputError(
                "--load-only predicts nothing, so it takes no inputs and compares nothing",
                value=", ".join(given),
                fix="drop --load-only to run inputs, or drop " + ", ".join(given),
            )
    reports = [Path(p) for p in args.report]
    for path in reports:
        report_format(path)  # an unknown suffix fails now, not after the builds
    options = CheckOptions(
        inputs=tuple(args.inputs),
        baseline=Path(args.baseline) if args.baseline else None,
        save_baseline=Path(args.save_baseline) if args.save_baseline else None,
        upgrade=args.against == "upgraded",
        overrides=tuple(args.overrides),
        host=not args.no_host,
        tolerance=Tolerance(rtol=args.rtol, atol=args.atol),
        load_only=args.load_only,
    )
    result = run_check(args.model_dir, settings, options)
    for path in write_reports(result.doc, reports):
        reporter.step(f"report written: {path}")
    summary = append_step_summary(result.doc, settings.environ)
    if summary is not None:
        reporter.step(f"summary appended to {summary}")
    if result.baseline_written is not None:
        reporter.step(f"baseline written: {result.baseline_written}")
    reporter.result(
        render_json(result.doc) if args.json else render_terminal(result.doc, verbose=args.verbose)
    )
    return result.exit_code
