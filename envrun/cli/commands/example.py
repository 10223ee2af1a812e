"""`envrun example`: a synthetic input built from the model's signature."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from envrun.cli.options import (
    Subparsers,
    add_model_dir,
    add_output_file,
    add_output_verbosity,
    add_verb,
    write_output,
)
from envrun.errors import EXIT_OK

if TYPE_CHECKING:
    from envrun.cli.reporter import TerminalReporter
    from envrun.settings import Settings


def register(subparsers: Subparsers) -> None:
    """Add `example` and its flags."""
    e = add_verb(
        subparsers,
        "example",
        help="write a synthetic input from the model's signature",
        description="Build an input that fits the model's signature (MLflow serving JSON: "
        "dataframe_split for columns, inputs for tensors, params with their defaults; the same "
        "values every time) and print it, or write it to a file with -o. For models saved "
        "without an input example; `envrun check` uses the same input when it has none. "
        "Builds nothing and runs nothing.",
    )
    add_model_dir(e)
    add_output_file(e, "write the input to FILE (atomically) instead of standard output")
    add_output_verbosity(e)
    e.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    """Print or write the synthetic input."""
    from envrun.model.example import synthetic_input
    from envrun.model.mlmodel import read_model

    text = json.dumps(synthetic_input(read_model(args.model_dir)), indent=2)
    if args.output:
        write_output(Path(args.output), text)
        reporter.step(f"input written: {args.output}")
    else:
        reporter.result(text)
    return EXIT_OK
