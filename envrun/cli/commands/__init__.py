"""One module per verb: each declares its flags (`register`) next to its handler (`run`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Protocol

from envrun.cli.commands import (
    batch,
    cache,
    check,
    drift,
    env,
    example,
    lock,
    predict,
    resolve,
    scan,
    serve,
)

if TYPE_CHECKING:
    from envrun.cli.options import Subparsers
    from envrun.cli.reporter import TerminalReporter
    from envrun.settings import Settings


class Verb(Protocol):
    """A verb module: `register` adds its subparser and sets `run` as the handler."""

    def register(self, subparsers: Subparsers) -> None:
        """Add the verb's subparser, its flags and `run=` default."""

    def run(self, args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
        """Do the verb's work and return the exit code."""


# The order of `envrun --help`. A new verb is one module and one entry here.
COMMANDS: tuple[Verb, ...] = (
    predict, batch, serve, resolve, check, example, scan, lock, drift, env, cache
)

__all__ = ["COMMANDS", "Verb"]
