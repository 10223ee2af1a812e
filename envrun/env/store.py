"""The env cache: one env per fingerprint, built under a lock, trusted only with a complete marker."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envrun import __version__
from envrun.env.asof import exempt_names
from envrun.env.backends import Backend, InstallPlan, env_python
from envrun.env.diagnose import diagnose_build, pin_conflict_error
from envrun.env.interpreters import Interpreter, describe
from envrun.env.inuse import EnvLease, acquire
from envrun.env.layout import CacheLayout
from envrun.env.requirements import IndexOptions
from envrun.env.spec import CACHE_FORMAT, EnvSpec
from envrun.errors import CommandFailed, EnvBuildError, EnvrunError, ResolutionError
from envrun.fsutil import write_atomic
from envrun.proc import tail
from envrun.settings import Settings

LOCK_WAIT_SECONDS = 3600.0


@dataclass(frozen=True)
class EnvHandle:
    """A ready env: where it is, whether this call built it, and why."""

    path: Path
    python: Path
    fingerprint: str
    built: bool
    reason: str
    seconds: float
    state: dict[str, Any]
    # The shared use lock held for the caller while it runs the env (None on a read-only cache):
    # `release()` it when done; dropping the handle also lets go.
    lease: EnvLease | None = field(default=None, compare=False, repr=False)

    def release(self) -> None:
        """Stop using the env: prune, rm and --rebuild elsewhere may now take it."""
        if self.lease is not None:
            self.lease.release()


def read_state(env_dir: Path, fp: str) -> tuple[dict[str, Any] | None, str]:  # noqa: PLR0911
    """The env's completion marker if it is valid, else None and the reason it is not."""
    state_path = CacheLayout.state_file(env_dir)
    if not env_dir.exists():
        return None, "no env for this fingerprint yet"
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "a previous build did not finish (no completion marker)"
    except (OSError, ValueError) as exc:
        return None, f"the completion marker is unreadable ({exc.__class__.__name__})"
    if not isinstance(state, dict):
        return None, "the completion marker is malformed"
    if state.get("cache_format") != CACHE_FORMAT:
        return None, f"the env was built by an older cache format ({state.get('cache_format')})"
    if state.get("fingerprint") != fp:
        return None, "the completion marker belongs to another fingerprint"
    # os.path.exists follows the venv's interpreter symlink: a removed base Python shows here.
    if not os.path.exists(env_python(env_dir)):
        return None, "the env's interpreter no longer exists (its base Python was removed or moved)"
    return state, "cache hit"


def ensure_env(
    spec: EnvSpec,
    *,
    fp: str,
    interpreter: Interpreter,
    backend: Backend,
    plan_index: IndexOptions,
    installer_reason: str,
    settings: Settings,
    extra_constraints: tuple[str, ...] = (),
    before_build: Callable[[], None] | None = None,
    model: tuple[str, str] | None = None,
) -> EnvHandle:
    """Return the env for `fp`, built under a per-fingerprint lock when needed, held in use.

    The handle holds the env's shared use lock until `handle.release()` (or until it is dropped),
    so prune and rm skip the env and --rebuild elsewhere waits. `before_build` runs once the
    cache has no complete env, before any lock or build: the place for checks worth their cost
    only when a build is coming. `model` (path, name) is recorded as one of the env's users.
    """
    start = time.monotonic()
    layout = CacheLayout(settings.cache_dir)
    env_dir = layout.env_dir(fp)
    use_lock = layout.use_lock(fp)
    reporter = settings.reporter

    def removal_wait() -> None:
        reporter.step("waiting for another envrun process that is removing or rebuilding this env")

    if not settings.rebuild:
        lease = acquire(use_lock, exclusive=False, on_wait=removal_wait, touch=True)
        state, _ = read_state(env_dir, fp)
        if state is not None:
            _note_model(env_dir, model)
            return EnvHandle(
                env_dir,
                env_python(env_dir),
                fp,
                False,
                "cache hit",
                time.monotonic() - start,
                state,
                lease,
            )
        # Never wait for the build lock while holding a use lock: a --rebuild holds the build
        # lock while it waits for every use lock to go.
        if lease is not None:
            lease.release()
    if before_build is not None:
        before_build()

    lock = _take_build_lock(layout.env_lock(fp), settings)
    lease = None
    try:
        if settings.rebuild:
            # Its users keep the env until they finish; new ones wait for the rebuilt env.
            lease = acquire(use_lock, exclusive=True, on_wait=lambda: reporter.step(_REBUILD_WAIT))
        else:
            lease = acquire(use_lock, exclusive=False, on_wait=removal_wait, touch=True)
        state, reason = read_state(env_dir, fp)
        if state is not None and not settings.rebuild:
            # Someone else finished the build while we waited for the lock.
            _note_model(env_dir, model)
            return EnvHandle(
                env_dir,
                env_python(env_dir),
                fp,
                False,
                "built by a concurrent process",
                time.monotonic() - start,
                state,
                lease,
            )
        plan = InstallPlan(
            spec.build_dependencies,
            spec.requirements,
            spec.constraints,
            plan_index,
            layout.build_workdir(fp),
            extra_constraints,
            as_of=spec.as_of,
            exempt=exempt_names(spec),
            no_deps=spec.exact_pins,
        )
        reason = "--rebuild requested" if settings.rebuild else reason
        state = _build(
            spec,
            env_dir=env_dir,
            fp=fp,
            interpreter=interpreter,
            backend=backend,
            plan=plan,
            installer_reason=installer_reason,
            settings=settings,
            layout=layout,
            reason=reason,
        )
        _note_model(env_dir, model)
        if lease is not None:
            lease.share()
            lease.record_use()
        handle = EnvHandle(
            env_dir, env_python(env_dir), fp, True, reason, time.monotonic() - start, state, lease
        )
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    finally:
        lock.release()
    if settings.cache_max_size is not None:
        _enforce_cap(settings)
    return handle


_REBUILD_WAIT = "waiting for the envrun processes using this env to finish before rebuilding it"


def _take_build_lock(lock_path: Path, settings: Settings) -> Any:
    """The per-fingerprint build lock, held; waits (saying so) for another builder."""
    from filelock import FileLock, Timeout

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        settings.reporter.step("waiting for another envrun process that is building this env")
        try:
            lock.acquire(timeout=LOCK_WAIT_SECONDS)
        except Timeout:
            raise EnvBuildError(
                "timed out waiting for another process building the same env",
                value=str(lock_path),
                fix="check for a stuck envrun process, or remove the lock file if none is running",
            ) from None
    return lock


def _enforce_cap(settings: Settings) -> None:
    from envrun.env.prune import prune

    report = prune(settings, max_size=settings.cache_max_size)
    if report.removed:
        settings.reporter.step(
            f"ENVRUN_CACHE_MAX_SIZE: removed {len(report.removed)} least recently used env(s), "
            f"freeing {report.freed_bytes} bytes"
        )


def _note_model(env_dir: Path, model: tuple[str, str] | None) -> None:
    """Add a model to the env's users, once: a warm run reads one small file, writes nothing."""
    if model is None:
        return
    models_file = CacheLayout.models_file(env_dir)
    try:
        known = json.loads(models_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = []
    if not isinstance(known, list):
        known = []
    path, name = model
    if any(isinstance(m, dict) and m.get("path") == path for m in known):
        return
    known.append({"path": path, "name": name})
    # On a read-only cache the list is left as it is: a courtesy, not worth failing a run.
    with contextlib.suppress(EnvrunError):
        write_atomic(models_file, json.dumps(known, indent=1), what="env's model list")


def _build(
    spec: EnvSpec,
    *,
    env_dir: Path,
    fp: str,
    interpreter: Interpreter,
    backend: Backend,
    plan: InstallPlan,
    installer_reason: str,
    settings: Settings,
    layout: CacheLayout,
    reason: str,
) -> dict[str, Any]:
    reporter = settings.reporter
    started = time.monotonic()
    log = layout.build_log(fp)
    if env_dir.exists():
        reporter.step(f"rebuilding env: {reason}")
        remove_dir(env_dir, layout)
    else:
        reporter.step(f"building env ({reason})")
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    count = len(spec.requirements) + len(spec.build_dependencies)
    try:
        reporter.step(f"creating virtualenv with {backend.name} (Python {interpreter.version})")
        backend.create(env_dir, interpreter.path, log=log, on_line=reporter.line)
        reporter.step(
            f"installing {count} requirement{'s' if count != 1 else ''} with {backend.name}"
        )
        backend.install(env_dir, plan, log=log, on_line=reporter.line)
        installed = backend.list_installed(env_dir)
        state = {
            "cache_format": CACHE_FORMAT,
            "fingerprint": fp,
            "envrun_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - started, 3),
            "build_reason": reason,
            "installer": {
                "name": backend.name,
                "version": backend.version(),
                "reason": installer_reason,
            },
            "interpreter": describe(interpreter),
            "spec": spec.to_json(),
            "index": plan.index.to_json(),
            "extra_constraints": list(plan.extra_constraints),
            "as_of": {"cutoff": spec.as_of, "text": spec.as_of_reason, "notes": plan.notes},
            "installed": installed,
            "log": str(log),
        }
        # The marker, written last: the env is now complete.
        text = json.dumps(state, indent=2, sort_keys=True)
        write_atomic(
            layout.state_file(env_dir), text, what="env's completion marker", option="--cache-dir"
        )
    except CommandFailed as exc:
        remove_dir(env_dir, layout)
        error = pin_conflict_error(exc, spec, backend.name, log) or _build_error(
            exc, backend.name, log
        )
        error.diagnosis = diagnose_build(exc.stdout + "\n" + exc.stderr)
        raise error from None
    except BaseException:
        remove_dir(env_dir, layout)
        raise
    finally:
        shutil.rmtree(plan.workdir, ignore_errors=True)
    return state


_RESOLUTION_HINTS = (
    "no solution found",
    "no matching distribution",
    "could not find a version",
    "resolutionimpossible",
    "because there is no version",
    "not found in the package registry",
    "conflicting dependencies",
    "hashes are required",
    "must have their versions pinned",
)
_HASH_HINTS = ("do not match the hashes", "hash mismatch")
_TAG = re.compile(r"^(?:error|cause|warning|hint):\s*", re.IGNORECASE)


def _build_error(exc: CommandFailed, installer: str, log: Path) -> EnvBuildError:
    """Classify an installer failure: resolution (exit 2), timeout or other build failure (3)."""
    output = (exc.stdout + "\n" + exc.stderr).strip()
    last = tail(output, 2500)
    lowered = output.lower()
    if exc.timed_out:
        return EnvBuildError(
            f"{installer} timed out while building the env",
            value=" ".join(exc.argv),
            fix=f"check the network or index, then retry; full log: {log}",
            log_path=str(log),
            tail=last,
        )
    if any(hint in lowered for hint in _HASH_HINTS):
        return ResolutionError(
            f"{installer} refused a package whose hash does not match the model's --hash; nothing was kept",
            value=telling_line(output, _HASH_HINTS),
            fix=f"update the --hash in the model's requirements if the package changed on purpose; full log: {log}",
            log_path=str(log),
            tail=last,
        )
    if any(hint in lowered for hint in _RESOLUTION_HINTS):
        return ResolutionError(
            f"{installer} could not resolve the model's requirements; nothing was kept",
            value=telling_line(output, _RESOLUTION_HINTS),
            fix=f"correct the pin in the model's requirements (or the index options); full log: {log}",
            log_path=str(log),
            tail=last,
        )
    return EnvBuildError(
        f"{installer} failed while building the env (exit code {exc.returncode}); nothing was kept",
        value=" ".join(exc.argv[:4]) + " ...",
        fix=f"read the installer's output for the cause; full log: {log}",
        log_path=str(log),
        tail=last,
    )


def telling_line(output: str, hints: tuple[str, ...]) -> str:
    """The output line that best says what went wrong: the first hint (in the order given)
    that some line contains wins; tags like "error:" are dropped; else the last line."""
    lines = [_TAG.sub("", line.strip()) for line in output.splitlines() if line.strip()]
    for hint in hints:
        for line in lines:
            if hint in line.lower():
                return line
    return lines[-1] if lines else ""


def remove_dir(path: Path, layout: CacheLayout) -> None:
    """Delete an env (or tool) directory: renamed first, so a half-removed tree is never
    mistaken for an env, then deleted."""
    if not path.exists():
        return
    doomed = layout.removal_dir(path)
    try:
        os.replace(path, doomed)
    except OSError:
        doomed = path
    shutil.rmtree(doomed, ignore_errors=True)
