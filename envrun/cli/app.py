"""Command line: parse arguments, call the library, render results and map errors to exit codes."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from envrun import __version__
from envrun.cli.parser import build_parser
from envrun.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    BridgeError,
    EnvBuildError,
    EnvrunError,
    PredictError,
)

if TYPE_CHECKING:
    from envrun.settings import Settings


class TerminalReporter:
    """Progress on stderr: a live line on a terminal, plain step lines elsewhere, nothing with -q."""

    def __init__(self, stream: IO[str], *, quiet: bool, verbose: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.verbose = verbose
        self.live = stream.isatty() and not quiet
        self.start = time.monotonic()
        self.current = ""
        self.dirty = False

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.start:6.1f}s"

    def step(self, message: str) -> None:
        if self.quiet:
            return
        self.current = message
        self._clear()
        self.stream.write(f"envrun: [{self._elapsed()}] {message}\n")
        self.stream.flush()

    def line(self, text: str) -> None:
        if self.quiet or not text.strip():
            return
        if self.verbose:
            self._clear()
            self.stream.write(f"  | {text}\n")
        elif self.live:
            width = max(20, _columns() - 30)
            self.stream.write(f"\r\x1b[K  [{self._elapsed()}] {text.strip()[:width]}")
            self.dirty = True
        self.stream.flush()

    def warn(self, message: str) -> None:
        if self.quiet:
            return
        self._clear()
        self.stream.write(f"envrun: warning: {message}\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self.dirty:
            self.stream.write("\r\x1b[K")
            self.dirty = False


def _columns() -> int:
    try:
        return os.get_terminal_size(2).columns or 100  # 0 when the terminal reports no size
    except OSError:
        return 100


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0911 - one exit per error kind
    """Entry point of the envrun command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None or (args.command == "env" and args.env_command is None):
        parser.print_help(sys.stderr)
        return 2
    reporter = TerminalReporter(sys.stderr, quiet=args.quiet, verbose=args.verbose)
    # SIGTERM unwinds like Ctrl-C, so a build in progress stops its installer and removes the
    # half-built env instead of leaving an installer running on its own.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _dispatch(args, reporter)
    except _Terminated:
        sys.stderr.write("\nenvrun: terminated\n")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        sys.stderr.write("\nenvrun: interrupted\n")
        return EXIT_INTERRUPTED
    except EnvrunError as exc:
        _print_error(exc, verbose=args.verbose)
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


def _settings(args: argparse.Namespace, reporter: TerminalReporter) -> Settings:
    from envrun.settings import make_settings

    return make_settings(
        cache_dir=args.cache_dir,
        installer=args.installer,
        python=args.python,
        rebuild=getattr(args, "rebuild", False),
        strict=args.strict,
        timeout=getattr(args, "timeout", None),
        reporter=reporter,
    )


def _dispatch(args: argparse.Namespace, reporter: TerminalReporter) -> int:
    settings = _settings(args, reporter)
    commands = {
        "predict": _predict,
        "resolve": _resolve,
        "env": _env,
        "check": _check,
        "lock": _lock,
        "drift": _drift,
    }
    return commands[args.command](args, settings, reporter)


def _resolve(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    from envrun import api

    resolution = api.resolve(args.model_dir, settings)
    if args.json:
        _emit(json.dumps(resolution.to_json(), indent=2))
    else:
        _emit(_render_resolution(resolution))
    return EXIT_OK


def _env(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    from envrun import api

    resolution = api.resolve(args.model_dir, settings)
    for warning in resolution.warnings:
        reporter.warn(warning)
    env = api.ensure_environment(resolution, settings)
    if args.verbose:
        reporter.step(
            f"env {'built' if env.built else 'reused'} ({env.reason}) in {env.seconds:.2f}s"
        )
    _emit(str(env.path))
    return EXIT_OK


def _predict(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    from envrun import api

    run = api.predict(
        args.model_dir,
        args.input,
        settings,
        fmt=args.input_format,
        stdin=sys.stdin.buffer if args.input == "-" else None,
        locked=Path(args.locked) if args.locked else None,
    )
    for warning in run.prediction.warnings:
        reporter.warn(warning)
    if args.verbose:
        _verbose_run(run, reporter)
    text = (
        json.dumps(_run_document(run), indent=2) if args.json else run.prediction.predictions_text
    )
    if args.output:
        _write_atomic(Path(args.output), text)
    else:
        _emit(text)
    return EXIT_OK


def _check(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    from envrun.check.compare import Tolerance
    from envrun.check.report.markdown import (
        append_step_summary,
        render_json,
        report_format,
        write_reports,
    )
    from envrun.check.report.terminal import render_terminal
    from envrun.check.run import CheckOptions, run_check
    from envrun.errors import InputError

    for name, value in (("--rtol", args.rtol), ("--atol", args.atol)):
        if value is not None and not value >= 0:
            raise InputError(
                f"{name} must be a number >= 0", value=str(value), fix=f"e.g. {name} 1e-6"
            )
    reports = [Path(p) for p in args.report]
    for path in reports:
        report_format(path)  # an unknown suffix fails now, not after the builds
    options = CheckOptions(
        inputs=tuple(args.inputs),
        baseline=Path(args.baseline) if args.baseline else None,
        save_baseline=Path(args.save_baseline) if args.save_baseline else None,
        upgrade=args.against == "upgraded",
        overrides=tuple(args.overrides),
        host=not args.no_host,
        tolerance=Tolerance(rtol=args.rtol, atol=args.atol),
    )
    result = run_check(args.model_dir, settings, options)
    for path in write_reports(result.doc, reports):
        reporter.step(f"report written: {path}")
    summary = append_step_summary(result.doc, settings.environ)
    if summary is not None:
        reporter.step(f"summary appended to {summary}")
    if result.baseline_written is not None:
        reporter.step(f"baseline written: {result.baseline_written}")
    _emit(
        render_json(result.doc) if args.json else render_terminal(result.doc, verbose=args.verbose)
    )
    return result.exit_code


def _lock(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
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
        _emit(lock.text)
    return EXIT_OK


def _drift(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    from envrun.drift.formats import render
    from envrun.drift.run import run_drift
    from envrun.errors import InputError

    if args.lock and len(args.model_dirs) > 1:
        raise InputError(
            "--lock names the lock of one model, but several model dirs were given",
            value=args.lock,
            fix="put each model's lock at MODEL_DIR/envrun.env.lock, or check one model per call",
        )
    report = run_drift(
        args.model_dirs,
        settings,
        threshold=args.fail_on,
        lock_path=Path(args.lock) if args.lock else None,
        skip=frozenset(args.skip),
    )
    color = args.output_format == "table" and not args.output and sys.stdout.isatty()
    text = render(report, args.output_format, verbose=args.verbose, color=color, width=_columns())
    if args.output:
        _write_atomic(Path(args.output), text)
    elif text:
        _emit(text)
    summary = settings.environ.get("GITHUB_STEP_SUMMARY")
    if summary and report.failing():
        with Path(summary).open("a", encoding="utf-8") as fh:
            fh.write(render(report, "markdown") + "\n")
    return report.exit_code


def _emit(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _write_atomic(path: Path, text: str) -> None:
    from envrun.fsutil import write_atomic

    text = text if text.endswith("\n") else text + "\n"
    write_atomic(path, text, what="output file", option="-o", make_parents=True)


def _run_document(run: Any) -> dict[str, Any]:
    pred = run.prediction
    return {
        "predictions": json.loads(pred.predictions_text, parse_constant=lambda c: c)["predictions"],
        "output": pred.jsonable,
        "summary": pred.summary,
        "env": {
            "path": str(run.env.path),
            "fingerprint": run.env.fingerprint,
            "cache": "miss" if run.env.built else "hit",
            "reason": run.env.reason,
            "python": pred.python,
            "installer": run.resolution.installer.value,
            "installer_reason": run.resolution.installer.reason,
        },
        "timings": {**run.timings, **{f"worker_{k}": v for k, v in pred.timings.items()}},
        "warnings": list(run.warnings),
    }


def _verbose_run(run: Any, reporter: TerminalReporter) -> None:
    pred = run.prediction
    cache = "built" if run.env.built else "cache hit"
    reporter.step(f"env {run.env.path} ({cache}; fingerprint {run.env.fingerprint[:16]})")
    reporter.step(f"output: {pred.summary}")
    timing = ", ".join(f"{k} {v:.3f}s" for k, v in run.timings.items())
    reporter.step(f"timings: {timing}")
    for name, text in (("stdout", pred.stdout), ("stderr", pred.stderr)):
        if text.strip():
            reporter.step(f"model {name}:\n{text.rstrip()}")


def _render_resolution(resolution: Any) -> str:
    spec = resolution.spec
    interp = resolution.interpreter
    lines = [
        f"model:        {resolution.model.path}",
        f"loader:       {resolution.model.pyfunc.loader_module}",
        f"declared in:  {spec.source}",
        f"python:       {spec.python or 'any'} ({spec.python_source})"
        f" -> {interp.version} at {interp.path} [{interp.origin}]",
        f"installer:    {resolution.installer.value} {resolution.installer_version}"
        f" ({resolution.installer.reason})",
        f"fingerprint:  {resolution.fingerprint}",
    ]
    if spec.build_dependencies:
        lines.append("build deps:   " + ", ".join(r.text for r in spec.build_dependencies))
    lines.append(f"requirements ({len(spec.requirements)}):")
    lines += [f"  {_req_display(r)}" for r in spec.requirements] or ["  (none)"]
    if spec.constraints:
        lines.append(f"constraints ({len(spec.constraints)}):")
        lines += [f"  {_req_display(r)}" for r in spec.constraints]
    index = resolution.index.to_json()
    shown = {k: v for k, v in index.items() if v}
    if shown:
        lines.append("index options: " + json.dumps(shown))
    if resolution.index_sources:
        lines.append("pip config from: " + ", ".join(resolution.index_sources))
    inputs = resolution.model.signature_inputs
    if inputs:
        cols = [
            f"{c.get('name', '?')}: {c.get('type')}" for c in inputs if c.get("type") != "tensor"
        ]
        tensors = [c.get("tensor-spec") for c in inputs if c.get("type") == "tensor"]
        lines.append("signature inputs: " + ", ".join(cols + [json.dumps(t) for t in tensors]))
    if spec.ignored:
        lines.append("ignored (conda-only): " + ", ".join(spec.ignored))
    for warning in resolution.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def _req_display(req: Any) -> str:
    text = req.text
    if req.hashes:
        text += f"  ({len(req.hashes)} hash{'es' if len(req.hashes) != 1 else ''})"
    return f"{text}    [{req.origin}]"


def _print_error(exc: EnvrunError, *, verbose: bool) -> None:
    err = sys.stderr
    if isinstance(exc, EnvBuildError) and exc.tail:
        err.write("envrun: the installer's last lines:\n")
        for line in exc.tail.rstrip().splitlines()[-25:]:
            err.write(f"  | {line}\n")
    if isinstance(exc, PredictError) and exc.traceback:
        err.write("envrun: traceback from the model's process:\n")
        err.write("".join(f"  | {line}\n" for line in exc.traceback.rstrip().splitlines()))
    elif isinstance(exc, BridgeError) and exc.stderr and verbose:
        err.write("envrun: the worker's stderr:\n")
        err.write("".join(f"  | {line}\n" for line in exc.stderr.rstrip().splitlines()[-40:]))
    lines = exc.render().splitlines()
    err.write(f"envrun: error: {lines[0]}\n")
    for line in lines[1:]:
        err.write(f"  {line.strip()}\n")
