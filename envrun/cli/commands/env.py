"""`envrun env ACTION`: a model's cached env (today: `path`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from envrun.cli.options import Subparsers, add_env_options, add_model_dir, add_verb
from envrun.errors import EXIT_OK

if TYPE_CHECKING:
    from envrun.cli.reporter import TerminalReporter
    from envrun.settings import Settings

    Action = Callable[[argparse.Namespace, Settings, TerminalReporter], int]


def register(subparsers: Subparsers) -> None:
    """Add `env` and its actions."""
    e = add_verb(
        subparsers,
        "env",
        help="manage a model's cached env",
        description="Manage the cached env a model declares.",
    )
    # No action given: main() prints this parser's help, as it does for a bare `envrun`.
    e.set_defaults(run=None, help_parser=e)
    actions = e.add_subparsers(dest="env_command", metavar="ACTION")
    p = add_verb(
        actions,
        "path",
        help="build the env if needed and print its directory",
        description="Build the env the model declares if no complete one is cached, then print "
        "its directory (for `source DIR/bin/activate` or DIR/bin/python).",
    )
    add_model_dir(p)
    add_env_options(p, rebuild=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    """Run the env action that was asked for."""
    actions: dict[str, Action] = {"path": _path}
    return actions[args.env_command](args, settings, reporter)


def _path(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    from envrun import api

    resolution = api.resolve(args.model_dir, settings)
    for warning in resolution.warnings:
        reporter.warn(warning)
    env = api.ensure_environment(resolution, settings)
    if args.verbose:
        reporter.step(
            f"env {'built' if env.built else 'reused'} ({env.reason}) in {env.seconds:.2f}s"
        )
    reporter.result(str(env.path))
    return EXIT_OK
