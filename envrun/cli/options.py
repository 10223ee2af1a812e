"""What several verbs share: the help layout, MODEL_DIR, the environment options and -q/-v."""

from __future__ import annotations

import argparse
import shutil
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from envrun.cli.reporter import TerminalReporter
    from envrun.settings import Settings

# argparse names the type of add_subparsers() privately; an alias keeps that name in one place.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

EPILOG = """\
exit codes:
  0    success
  1    check: outputs differ, or nothing could be compared; drift: drift at or above --fail-on;
       cache rm: an env in use was kept
  2    usage, input, spec or resolution error
  3    environment build failed
  4    model load or predict failed
  70   internal error (a bug in envrun; a crash report file is named)
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM); a build in progress is stopped and removed

environment variables:
  ENVRUN_CACHE_DIR   cache root (default: the platform's user cache dir)
  ENVRUN_INSTALLER   uv or pip (default: uv); --installer wins over it
  ENVRUN_CACHE_MAX_SIZE  e.g. 20G: after a build, prune least recently used envs not in use
"""


def wrap(text: str) -> str:
    """A description wrapped to the terminal as argparse wraps option help.

    The raw formatter keeps the epilog's tables aligned, so prose is wrapped here instead.
    """
    width = max(40, shutil.get_terminal_size().columns - 2)
    return textwrap.fill(" ".join(text.split()), width=width, break_on_hyphens=False)


def add_verb(
    subparsers: Subparsers, name: str, *, help: str, description: str
) -> argparse.ArgumentParser:
    """A verb (or an action under one) whose --help ends with the exit codes and variables."""
    return subparsers.add_parser(
        name,
        help=help,
        description=wrap(description),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_model_dir(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    """The MODEL_DIR positional (one or, with `many`, several)."""
    if many:
        parser.add_argument(
            "model_dirs",
            metavar="MODEL_DIR",
            nargs="+",
            help="directories holding an MLmodel file",
        )
    else:
        parser.add_argument(
            "model_dir", metavar="MODEL_DIR", help="directory holding the MLmodel file"
        )


def add_env_options(
    parser: argparse.ArgumentParser, *, rebuild: bool = False, timeout: bool = False
) -> None:
    """The options that choose and build the env, and -q/-v; `rebuild` and `timeout` add
    --rebuild and --timeout for verbs that build an env or run the model."""
    if timeout:
        parser.add_argument(
            "--timeout",
            type=float,
            metavar="S",
            help="stop the model if a predict takes longer than S seconds",
        )
    group = parser.add_argument_group("environment options")
    group.add_argument(
        "--installer",
        choices=("uv", "pip"),
        help="installer backend (default: uv, or $ENVRUN_INSTALLER)",
    )
    group.add_argument(
        "--python",
        metavar="PATH",
        help="use this interpreter instead of searching for the declared version",
    )
    group.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="cache root (default: $ENVRUN_CACHE_DIR or the user cache dir)",
    )
    if rebuild:
        group.add_argument(
            "--rebuild",
            action="store_true",
            help="rebuild the env even if a complete one is cached",
        )
    group.add_argument(
        "--strict", action="store_true", help="treat conda-only packages in conda.yaml as an error"
    )
    if not rebuild:
        parser.set_defaults(rebuild=False)
    if not timeout:
        parser.set_defaults(timeout=None)
    out = parser.add_argument_group("output options")
    verbosity = out.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but the result"
    )
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show installer output, env details, timings and full tracebacks",
    )


def make_settings(args: argparse.Namespace, reporter: TerminalReporter) -> Settings:
    """Settings from the environment options (flags > ENVRUN_* variables > defaults)."""
    from envrun.settings import make_settings as settings_from

    return settings_from(
        cache_dir=args.cache_dir,
        installer=args.installer,
        python=args.python,
        rebuild=args.rebuild,
        strict=args.strict,
        timeout=args.timeout,
        reporter=reporter,
    )


def add_output_file(parser: argparse.ArgumentParser, help: str) -> None:
    """-o/--output FILE."""
    parser.add_argument("-o", "--output", metavar="FILE", help=help)


def write_output(path: Path, text: str) -> None:
    """Write a result to the -o file, atomically, newline-terminated."""
    from envrun.fsutil import write_atomic

    text = text if text.endswith("\n") else text + "\n"
    write_atomic(path, text, what="output file", option="-o", make_parents=True)
