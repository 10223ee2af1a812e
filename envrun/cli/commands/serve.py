"""`envrun serve`: serve a model over HTTP with MLflow's scoring protocol, on persistent workers."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envrun.cli.options import Subparsers, add_env_options, add_model_dir, add_verb
from envrun.errors import EXIT_OK

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from envrun.cli.reporter import TerminalReporter
    from envrun.run.pool import Pool
    from envrun.settings import Settings


def register(subparsers: Subparsers) -> None:
    """Add `serve` and its flags."""
    p = add_verb(
        subparsers,
        "serve",
        help="serve a model over HTTP (MLflow's scoring protocol) from its cached env",
        description="Build (once) the env the model declares, start N workers inside it that "
        "load the model once, and answer MLflow's scoring protocol: GET /ping, /health, "
        "/version, POST /invocations (JSON, CSV, parquet), plus GET /metrics (Prometheus). "
        "A drop-in for `mlflow models serve`. SIGTERM or Ctrl-C drains requests in flight, "
        "then stops the workers. Needs the extra: pip install 'envrun[serve]'.",
    )
    add_model_dir(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument(
        "-p", "--port", type=_port, default=5000, help="port (default: 5000; 0 picks a free one)"
    )
    p.add_argument(
        "-w",
        "--workers",
        type=_positive(int),
        default=1,
        help="worker processes, each loads the model once and runs one predict at a time "
        "(default: 1)",
    )
    p.add_argument(
        "-t",
        "--timeout",
        dest="request_timeout",
        type=_positive(float),
        default=60.0,
        metavar="S",
        help="answer 504 and replace the worker when a predict runs longer (default: 60)",
    )
    p.add_argument(
        "--max-body-size",
        type=_size,
        default=100 * 1024 * 1024,
        metavar="SIZE",
        help="answer 413 to larger request bodies, before reading them (e.g. 10M; default 100M)",
    )
    p.add_argument(
        "--locked",
        metavar="FILE",
        help="build the env from this lock file (from `envrun lock`), hash-checked",
    )
    add_env_options(p, rebuild=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    """Serve until interrupted."""
    from envrun import __version__, api
    from envrun.serve import ServeOptions, require_extra

    require_extra()
    from envrun.model import read_model
    from envrun.serve import run_server

    # A model dir that is not one fails before the port opens; the load itself comes after.
    read_model(args.model_dir)
    _configure_logging(quiet=args.quiet)
    options = ServeOptions(
        workers=args.workers,
        timeout=args.request_timeout,
        max_body_size=args.max_body_size,
        version=__version__,
    )
    locked = Path(args.locked) if args.locked else None

    def open_pool() -> AbstractContextManager[Pool]:
        return api.open_pool(
            args.model_dir,
            settings,
            workers=options.workers,
            timeout=options.timeout,
            want_packages=True,
            locked=locked,
        )

    run_server(
        open_pool,
        options,
        host=args.host,
        port=args.port,
        on_listening=lambda url: reporter.step(f"listening on {url} (the model loads now)"),
    )
    return EXIT_OK


def _configure_logging(*, quiet: bool) -> None:
    """Server and access-log lines on stderr (warnings only with -q)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    for name in ("envrun.serve", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING if quiet else logging.INFO)
        logger.propagate = False


def _positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
        return value

    return parse


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port (0-65535): {text!r}")
    return int(text)


def _size(text: str) -> int:
    from envrun.serve.options import parse_size

    try:
        return parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a size: {text!r} (bytes, or with a unit: 512k, 10M, 1G)"
        ) from None
