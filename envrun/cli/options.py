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
       scan: a pickle would run something dangerous; cache rm: an env in use was kept
  2    usage, input, spec or resolution error; a model refused as unsafe (see --trust-model);
       --sandbox where neither bwrap nor unshare works
  3    environment build failed
  4    model load or predict failed
  70   internal error (a bug in envrun; a crash report file is named)
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM); a build in progress is stopped and removed

environment variables:
  ENVRUN_CACHE_DIR   cache root (default: the platform's user cache dir)
  ENVRUN_INSTALLER   uv or pip (default: uv); --installer wins over it
  ENVRUN_AS_OF       created, now or a date (default: created); --as-of wins over it
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
    """The options that choose and build the env, and -q/-v; `rebuild` adds --rebuild for verbs
    that build an env, `timeout` adds --timeout, --trust-model and --sandbox for verbs that load
    and run the model."""
    if timeout:
        parser.add_argument(
            "--timeout",
            type=float,
            metavar="S",
            help="stop the model if a predict takes longer than S seconds",
        )
        add_load_options(parser)
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
    group.add_argument(
        "--as-of",
        metavar="WHEN",
        help="resolve what the model does not pin exactly as of this day: created (the model's "
        "utc_time_created, the default), now, a date YYYY-MM-DD (that UTC day included) or an "
        "ISO datetime (default: $ENVRUN_AS_OF, else created)",
    )
    group.add_argument(
        "--exact-pins",
        action="store_true",
        help="install exact pins as declared, without resolving their dependencies (as pip did "
        "before 20.3), for a frozen requirements list whose pins conflict",
    )
    if not rebuild:
        parser.set_defaults(rebuild=False)
    if not timeout:
        parser.set_defaults(timeout=None, trust_model=False, sandbox=False)
    _add_verbosity(parser)


def _add_verbosity(
    parser: argparse.ArgumentParser,
    verbose_help: str = "show installer output, env details, timings and full tracebacks",
) -> None:
    out = parser.add_argument_group("output options")
    verbosity = out.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but the result"
    )
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=verbose_help,
    )


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """--trust-model and --sandbox: how a model is let in before it is loaded and run."""
    group = parser.add_argument_group("model safety options")
    group.add_argument(
        "--trust-model",
        action="store_true",
        help="load the model even if its pickles would run something dangerous (see `envrun scan`)",
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        help="run the model without network access and with its directory and env read-only "
        "(needs bwrap or unshare)",
    )


def add_cache_options(parser: argparse.ArgumentParser, *, verbose_help: str) -> None:
    """--cache-dir and -q/-v alone, for verbs that build and run nothing (scan)."""
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="cache root (default: $ENVRUN_CACHE_DIR or the user cache dir)",
    )
    _add_verbosity(parser, verbose_help)
    parser.set_defaults(installer=None, python=None, rebuild=False, strict=False, timeout=None,
                        as_of=None, exact_pins=False, trust_model=False, sandbox=False)  # fmt: skip


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """--device, for verbs that load the model."""
    parser.add_argument(
        "--device",
        choices=("auto", "cpu"),
        help="where torch tensors saved on a GPU load: cpu, or auto (the default: cpu when this "
        "host has no CUDA); either way a warning says so",
    )


def add_output_verbosity(parser: argparse.ArgumentParser) -> None:
    """-q/-v alone, for verbs that build no env; the env options take their defaults."""
    parser.set_defaults(
        cache_dir=None,
        installer=None,
        python=None,
        rebuild=False,
        strict=False,
        timeout=None,
        as_of=None,
        exact_pins=False,
        trust_model=False,
        sandbox=False,
    )
    verbosity = parser.add_argument_group("output options").add_mutually_exclusive_group()
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but the result"
    )
    verbosity.add_argument("-v", "--verbose", action="store_true", help="show more detail")


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
        trust_model=args.trust_model,
        sandbox=args.sandbox,
        reporter=reporter,
        as_of=args.as_of,
        exact_pins=args.exact_pins,
        device=getattr(args, "device", None),
    )


def add_output_file(parser: argparse.ArgumentParser, help: str) -> None:
    """-o/--output FILE."""
    parser.add_argument("-o", "--output", metavar="FILE", help=help)


def write_output(path: Path, text: str) -> None:
    """Write a result to the -o file, atomically, newline-terminated."""
    from envrun.fsutil import write_atomic

    text = text if text.endswith("\n") else text + "\n"
    write_atomic(path, text, what="output file", option="-o", make_parents=True)
