"""The command line's argument parser: every command, option and the help texts."""

from __future__ import annotations

import argparse
from typing import Any

from envrun import __version__

EPILOG = """\
exit codes:
  0    success
  1    check: outputs differ, or nothing could be compared; drift: drift at or above --fail-on
  2    usage, input, spec or resolution error
  3    environment build failed
  4    model load or predict failed
  70   internal error (a bug in envrun; a crash report file is named)
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM); a build in progress is stopped and removed

environment variables:
  ENVRUN_CACHE_DIR   cache root (default: the platform's user cache dir)
  ENVRUN_INSTALLER   uv or pip (default: uv); --installer wins over it
"""


def _common(parser: argparse.ArgumentParser) -> None:
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
    group.add_argument(
        "--strict", action="store_true", help="treat conda-only packages in conda.yaml as an error"
    )
    out = parser.add_argument_group("output options")
    verbosity = out.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but the result"
    )
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show installer output, env details and timings",
    )


def command(sub: Any, name: str, *, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the exit codes and environment variables."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render --help)."""
    parser = argparse.ArgumentParser(
        prog="envrun",
        description="Run packaged ML models (MLflow Models format) in cached, isolated environments.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"envrun {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = command(
        sub,
        "predict",
        help="predict with a model inside its own cached env",
        description="Build (once) the env the model declares, then run the model's predict inside it. "
        'Prints MLflow-compatible JSON ({"predictions": ...}).',
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", help="directory holding the MLmodel file")
    p.add_argument(
        "input",
        metavar="INPUT",
        help="input file: MLflow serving JSON (dataframe_split, dataframe_records, instances, inputs), "
        "CSV, .npy or .npz; '-' reads stdin",
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write the predictions JSON here instead of stdout"
    )
    p.add_argument(
        "--format",
        dest="input_format",
        choices=("json", "csv", "npy", "npz"),
        help="input format (default: from the extension or content)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON document with predictions, lossless output, env and timings",
    )
    p.add_argument(
        "--rebuild", action="store_true", help="rebuild the env even if a complete one is cached"
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="stop the model if predict takes longer than S seconds",
    )
    p.add_argument(
        "--locked",
        metavar="FILE",
        help="build the env from this lock file (from `envrun lock`), hash-checked",
    )
    _common(p)

    r = sub.add_parser(
        "resolve", help="show the env a model declares, its fingerprint and what was ignored"
    )
    r.add_argument("model_dir", metavar="MODEL_DIR")
    r.add_argument("--json", action="store_true", help="print the resolution as JSON")
    _common(r)

    _add_check(sub)
    _add_lock_and_drift(sub)

    e = sub.add_parser("env", help="manage a model's cached env")
    esub = e.add_subparsers(dest="env_command", metavar="ACTION")
    ep = esub.add_parser("path", help="build the env if needed and print its directory")
    ep.add_argument("model_dir", metavar="MODEL_DIR")
    ep.add_argument("--rebuild", action="store_true", help="rebuild the env even if cached")
    _common(ep)
    return parser


def _add_check(sub: Any) -> None:
    c = command(
        sub,
        "check",
        help="prove the model reproduces: env vs host vs baseline (vs an upgraded env)",
        description="Run the same inputs in the model's declared env, in this process, against a "
        "stored baseline and optionally in a second env with relaxed or swapped pins; compare the "
        "outputs with a typed, tolerance-aware diff and write a report. Exit 0 when every "
        "comparison reproduced, 1 when one differs or nothing could be compared.",
    )
    c.add_argument("model_dir", metavar="MODEL_DIR", help="directory holding the MLmodel file")
    c.add_argument(
        "inputs",
        metavar="INPUT",
        nargs="*",
        help="input files (default: the model's serving_input_example.json or input_example.json)",
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
    c.add_argument("--rebuild", action="store_true", help="rebuild the env even if cached")
    c.add_argument("--timeout", type=float, metavar="S", help="stop a predict after S seconds")
    _common(c)


def _add_lock_and_drift(sub: Any) -> None:
    lk = command(
        sub,
        "lock",
        help="resolve the model's env into a fully pinned lock file with hashes",
        description="Resolve the declared env (transitive dependencies included) for the model's "
        "Python and this platform into a requirements file with exact pins and sha256 hashes. "
        "`envrun predict --locked FILE` builds exactly that env; `envrun drift` compares it with "
        "a fresh resolution.",
    )
    lk.add_argument("model_dir", metavar="MODEL_DIR")
    lk.add_argument("-o", "--output", metavar="FILE", help="write the lock here (default: stdout)")
    lk.add_argument(
        "--exclude-newer",
        metavar="DATE",
        help="ignore releases uploaded after DATE (YYYY-MM-DD, that day included, or RFC 3339), "
        "so the resolution can be repeated later",
    )
    _common(lk)

    d = command(
        sub,
        "drift",
        help="find dependency drift for CI: declared vs host vs installed vs a fresh resolution",
        description="Compare what each model declares with its own files, this host, its cached "
        "env, its lock file (MODEL_DIR/envrun.env.lock or --lock) against a fresh resolution, and "
        "the index (pins that were yanked or removed); scan its pickles for modules nothing "
        "declares. Exit 1 when any finding is at or above --fail-on.",
    )
    d.add_argument("model_dirs", metavar="MODEL_DIR", nargs="+")
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
        choices=("consistency", "host", "installed", "lock", "availability", "pickle"),
        help="skip a class of checks, e.g. the network ones: --skip lock --skip availability",
    )
    d.add_argument("-o", "--output", metavar="FILE", help="write the output here instead of stdout")
    _common(d)
