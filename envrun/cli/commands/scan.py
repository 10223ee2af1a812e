"""`envrun scan`: what each model's pickles would import and call when loaded, without loading."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from envrun.cli.options import (
    Subparsers,
    add_cache_options,
    add_model_dir,
    add_output_file,
    add_verb,
    write_output,
)

if TYPE_CHECKING:
    from envrun.cli.reporter import TerminalReporter
    from envrun.settings import Settings


def register(subparsers: Subparsers) -> None:
    """Add `scan` and its flags."""
    s = add_verb(
        subparsers,
        "scan",
        help="show what a model's pickles would run when loaded, without unpickling them",
        description="Read every pickle-based file of each model (pickle, cloudpickle, joblib, "
        "torch archives, skops) without unpickling it and list every callable it would import "
        "and call, classified as dangerous (process, code, network, file writing...), code by "
        "value, safe or unknown. Exit 1 when something dangerous is found; predict and check "
        "refuse such a model unless given --trust-model.",
    )
    add_model_dir(s, many=True)
    s.add_argument(
        "--format",
        dest="output_format",
        choices=("table", "json", "sarif"),
        default="table",
        help="output format (default: table); sarif paths are relative to the current directory",
    )
    add_output_file(s, "write the output here instead of stdout")
    add_cache_options(s, verbose_help="list every finding, safe and unknown ones too")
    s.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    """Scan each model, render the findings; 1 when any is dangerous."""
    from envrun import api
    from envrun.pickles.formats import exit_code, render_json, render_sarif, render_table

    # Every directory is checked before any output, so a typo fails alone with exit 2.
    reports = [api.scan(model_dir, settings) for model_dir in args.model_dirs]
    if args.output_format == "json":
        text = render_json(reports)
    elif args.output_format == "sarif":
        # GitHub code scanning places a result on a file by its path from the checkout's root.
        text = render_sarif(reports, base=Path.cwd())
    else:
        text = render_table(reports, verbose=args.verbose)
    code = exit_code(reports)
    if args.output:
        write_output(Path(args.output), text)
        found = sum(len(r.dangerous) for r in reports)
        reporter.step(f"scan written to {args.output}: {found} dangerous finding(s)")
    else:
        reporter.result(text)
    return code
