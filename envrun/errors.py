"""Typed errors raised by the library; the CLI maps them to messages and exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Where a call through the worker failed. The worker reports its own stage (request, input, load,
# predict, encode); the host names what it saw of the process itself (start, crash, timeout,
# protocol). Callers branch on these fields, never on the wording of a message.
InputStage = Literal["request", "input"]
ModelStage = Literal["load", "predict", "encode"]
BridgeStage = Literal[
    "request", "input", "load", "predict", "encode", "start", "crash", "timeout", "protocol"
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_ENV_BUILD = 3
EXIT_MODEL = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


@dataclass(frozen=True)
class Diagnosis:
    """A likely cause of a failure and what fixes it, both in words."""

    cause: str
    fix: str

    def render(self) -> str:
        """'likely cause: ...; fix: ...' on one line."""
        return f"likely cause: {self.cause}; fix: {self.fix}"


class EnvrunError(Exception):
    """Base class: a message in three parts (what happened, the offending value, the fix).

    `diagnosis`, when set, names the likely cause behind the failure (a build or load failure
    read by envrun.env.diagnose or envrun.run.diagnose), apart from the message itself.
    """

    exit_code = EXIT_USAGE
    diagnosis: Diagnosis | None = None

    def __init__(self, what: str, *, value: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.value = value
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        """The message as one block of text."""
        parts = [self.what]
        if self.value:
            parts.append(f"  offending value: {self.value}")
        if self.fix:
            parts.append(f"  fix: {self.fix}")
        return "\n".join(parts)


class ModelError(EnvrunError):
    """The model directory or its MLmodel file is unusable (missing, malformed, unsafe path)."""


class SpecError(EnvrunError):
    """An environment file (python_env.yaml, requirements.txt, conda.yaml) is invalid."""


class UnsafeModelError(ModelError):
    """The model's pickles would run something dangerous when loaded; carries the findings.

    Exit 2, as for other models refused before anything runs (an unsafe path in MLmodel): nothing
    was built or loaded, and the fix is in the caller's hands (trust the model, or remove the file).
    """

    def __init__(
        self,
        what: str,
        *,
        value: str | None = None,
        fix: str | None = None,
        findings: tuple[object, ...] = (),
    ) -> None:
        self.findings = findings
        super().__init__(what, value=value, fix=fix)


class InputError(EnvrunError):
    """The prediction input cannot be read or does not match the model's signature.

    When the worker refused the input, `stage` says where and `detail` holds its own words;
    both are unset when envrun refused it before any worker ran.
    """

    def __init__(
        self,
        what: str,
        *,
        value: str | None = None,
        fix: str | None = None,
        stage: InputStage | None = None,
        detail: str = "",
        column: str | None = None,
    ) -> None:
        self.stage = stage
        self.detail = detail
        self.column = column  # the signature column the worker refused, when it names one
        super().__init__(what, value=value, fix=fix)

    # MLflow's scoring-server error code: BAD_REQUEST for input that cannot be parsed,
    # INVALID_PARAMETER_VALUE for input that parses but does not fit the signature.
    error_code = "BAD_REQUEST"


class OutputError(EnvrunError):
    """A file envrun was asked to write (a report, a lock, -o, a baseline) could not be written."""


class SandboxUnavailable(EnvrunError):
    """A sandboxed run was asked for, and no confinement tool (bwrap, unshare) works here."""


class InterpreterNotFound(EnvrunError):
    """No Python interpreter matching the model's declared version was found."""


class EnvBuildError(EnvrunError):
    """Creating or populating the environment failed."""

    exit_code = EXIT_ENV_BUILD

    def __init__(
        self,
        what: str,
        *,
        value: str | None = None,
        fix: str | None = None,
        log_path: str | None = None,
        tail: str = "",
    ) -> None:
        self.log_path = log_path
        self.tail = tail
        super().__init__(what, value=value, fix=fix)


class ResolutionError(EnvBuildError):
    """The installer could not resolve the declared requirements (a pin that does not exist...)."""

    exit_code = EXIT_USAGE


class CommandFailed(EnvrunError):
    """A subprocess exited non-zero (or timed out); carries argv, exit code and output tails."""

    exit_code = EXIT_ENV_BUILD

    def __init__(
        self,
        argv: list[str],
        returncode: int | None,
        stdout: str,
        stderr: str,
        *,
        timed_out: bool = False,
    ) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        status = "timed out" if timed_out else f"exited with code {returncode}"
        output = stderr if stderr.strip() else stdout
        said = next((ln.strip() for ln in reversed(output.splitlines()) if ln.strip()), "")
        super().__init__(
            f"command {status}: {argv[0]}",
            value=" ".join(argv),
            fix=f"act on what it printed last: {said}"
            if said
            else "it printed nothing; run it by hand to see why it fails",
        )


class BridgeError(EnvrunError):
    """The worker process crashed or broke the protocol; carries its traceback and output."""

    exit_code = EXIT_MODEL

    def __init__(
        self,
        what: str,
        *,
        value: str | None = None,
        fix: str | None = None,
        traceback: str = "",
        returncode: int | None = None,
        stderr: str = "",
        stage: BridgeStage = "protocol",
    ) -> None:
        self.traceback = traceback
        self.returncode = returncode
        self.stderr = stderr
        self.stage: BridgeStage = stage
        super().__init__(what, value=value, fix=fix)


class PredictError(BridgeError):
    """The model's own code raised while loading or predicting; carries the child's traceback.

    `error_type` and `detail` are the model's exception type and message, without envrun's
    framing around them.
    """

    stage: ModelStage

    def __init__(
        self,
        what: str,
        *,
        value: str | None = None,
        fix: str | None = None,
        traceback: str = "",
        returncode: int | None = None,
        stderr: str = "",
        error_type: str = "",
        stage: ModelStage = "predict",
        detail: str = "",
    ) -> None:
        self.error_type = error_type
        self.detail = detail
        super().__init__(
            what,
            value=value,
            fix=fix,
            traceback=traceback,
            returncode=returncode,
            stderr=stderr,
            stage=stage,
        )


class WorkerTimeout(BridgeError):
    """A persistent worker overran a request's timeout; it was killed and is being replaced."""


class WorkerCrashed(BridgeError):
    """A persistent worker died (signal, os._exit, out of memory) or broke the frame protocol."""
