"""`envrun`: parse the arguments, make the settings, dispatch to a verb, map errors to exit codes."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from envrun import __version__
from envrun.cli.commands import COMMANDS
from envrun.cli.options import EPILOG, make_settings, wrap
from envrun.cli.reporter import TerminalReporter
from envrun.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    EnvrunError,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every verb of the command table (also renders --help)."""
    parser = argparse.ArgumentParser(
        prog="envrun",
        description=wrap(
            "Run packaged ML models (MLflow Models format) in cached, isolated environments."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"envrun {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb in COMMANDS:
        verb.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0911 - one exit per error kind
    """Entry point of the envrun command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:  # no verb, or a verb without its action
        getattr(args, "help_parser", parser).print_help(sys.stderr)
        return EXIT_USAGE
    reporter = TerminalReporter(sys.stderr, quiet=args.quiet, verbose=args.verbose)
    # SIGTERM unwinds like Ctrl-C, so a build in progress stops its installer and removes the
    # half-built env instead of leaving an installer running on its own.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        settings = make_settings(args, reporter)
        code: int = args.run(args, settings, reporter)
        return code
    except _Terminated:
        sys.stderr.write("\nenvrun: terminated\n")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        sys.stderr.write("\nenvrun: interrupted\n")
        return EXIT_INTERRUPTED
    except EnvrunError as exc:
        reporter.error(exc)
        return exc.exit_code
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:
        where = exc.filename or ""
        sys.stderr.write(
            f"envrun: error: {exc.strerror or exc}\n  offending value: {where}\n"
            "  fix: check that the path exists, is writable and the disk has free space\n"
        )
        return EXIT_USAGE
    except Exception as exc:  # the last line of defence: no raw traceback for users
        report = _save_crash_report()
        sys.stderr.write(
            f"envrun: internal error: {type(exc).__name__}: {exc}\n"
            f"  this is a bug in envrun; the details are in {report}\n"
        )
        return EXIT_INTERNAL
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so every cleanup handler runs."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _save_crash_report() -> str:
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix="envrun-crash-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"envrun {__version__} on Python {sys.version}\nargv: {sys.argv}\n\n")
        fh.write(traceback.format_exc())
    return path
