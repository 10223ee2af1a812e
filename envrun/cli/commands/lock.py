"""`envrun lock`: resolve the model's env into a fully pinned lock file with hashes."""

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
)
from envrun.errors import EXIT_OK

if TYPE_CHECKING:
    from envrun.cli.reporter import TerminalReporter
    from envrun.settings import Settings


def register(subparsers: Subparsers) -> None:
    """Add `lock` and its flags."""
    lk = add_verb(
        subparsers,
        "lock",
        help="resolve the model's env into a fully pinned lock file with hashes",
        description="Resolve the declared env (transitive dependencies included) for the model's "
        "Python and this platform into a requirements file with exact pins and sha256 hashes. "
        "`envrun predict --locked FILE` builds exactly that env; `envrun drift` compares it with "
        "a fresh resolution.",
    )
    add_model_dir(lk)
    add_output_file(lk, "write the lock here (default: stdout)")
    lk.add_argument(
        "--exclude-newer",
        metavar="DATE",
        help="ignore releases uploaded after DATE (YYYY-MM-DD, that day included, or RFC 3339), "
        "so the resolution can be repeated later",
    )
    add_env_options(lk)
    lk.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    """Lock the model's env and print or write the lock."""
    from envrun.api import lock_model
    from envrun.env.lock import normalize_exclude_newer, write_lock

    if args.exclude_newer:
        normalize_exclude_newer(args.exclude_newer)  # a bad date fails before any work
    lock, resolution = lock_model(args.model_dir, settings, exclude_newer=args.exclude_newer)
    if args.output:
        write_lock(lock, Path(args.output))
        reporter.step(
            f"locked {len(lock.pins)} packages for Python {resolution.interpreter.version}: "
            f"{args.output}"
        )
    else:
        reporter.result(lock.text)
    return EXIT_OK
