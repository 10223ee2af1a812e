"""`envrun drift`: dependency drift for CI, across one or many models."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from envrun.cli.options import (
    Subparsers,
    add_env_options,
    add_model_dir,
    add_output_file,
    add_verb,
    write_output,
)
from envrun.cli.reporter import columns

if TYPE_CHECKING:
    from envrun.cli.reporter import TerminalReporter
    from envrun.settings import Settings


def register(subparsers: Subparsers) -> None:
    """Add `drift` and its flags."""
    d = add_verb(
        subparsers,
        "drift",
        help="find dependency drift for CI: declared vs host vs installed vs a fresh resolution",
        description="Compare what each model declares with its own files, this host, its cached "
        "env, its lock file (MODEL_DIR/envrun.env.lock or --lock) against a fresh resolution, what "
        "moved between the model's day (--as-of) and today, and the index (pins that were "
        "yanked or removed); scan its pickles for modules nothing declares. Exit 1 when any "
        "finding is at or above --fail-on.",
    )
    add_model_dir(d, many=True)
    d.add_argument(
        "--fail-on",
        choices=("high", "medium", "low"),
        default="high",
        help="exit 1 on drift at or above this severity (default: high)",
    )
    d.add_argument(
        "--format",
        dest="output_format",
        choices=("table", "json", "markdown", "junit", "github"),
        default="table",
        help="output format (default: table)",
    )
    d.add_argument("--lock", metavar="FILE", help="the lock file to compare (one model only)")
    d.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("consistency", "host", "installed", "lock", "moved", "availability", "pickle"),
        help="skip a class of checks, e.g. the network ones: "
        "--skip lock --skip moved --skip availability",
    )
    add_output_file(d, "write the output here instead of stdout")
    add_env_options(d)
    d.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    """Find drift, render it; 1 when a finding is at or above --fail-on."""
    from envrun.drift.formats import render
    from envrun.drift.run import run_drift
    from envrun.errors import InputError

    if args.lock and len(args.model_dirs) > 1:
        raise InputError(
            "--lock names the lock of one model, but several model dirs were given",
            value=args.lock,
            fix="put each model's lock at MODEL_DIR/envrun.env.lock, or check one model per call",
        )
    report = run_drift(
        args.model_dirs,
        settings,
        threshold=args.fail_on,
        lock_path=Path(args.lock) if args.lock else None,
        skip=frozenset(args.skip),
    )
    color = args.output_format == "table" and not args.output and reporter.out.isatty()
    text = render(report, args.output_format, verbose=args.verbose, color=color, width=columns())
    if args.output:
        write_output(Path(args.output), text)
    elif text:
        reporter.result(text)
    summary = settings.environ.get("GITHUB_STEP_SUMMARY")
    if summary and report.failing():
        with Path(summary).open("a", encoding="utf-8") as fh:
            fh.write(render(report, "markdown") + "\n")
    return report.exit_code
