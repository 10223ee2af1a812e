"""Typed errors raised by the library; the CLI maps them to messages and exit codes."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_ENV_BUILD = 3
EXIT_MODEL = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class EnvrunError(Exception):
    """Base class: a message in three parts (what happened, the offending value, the fix)."""

    exit_code = EXIT_USAGE

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
    """The prediction input cannot be read or does not match the model's signature."""


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
    ) -> None:
        self.traceback = traceback
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(what, value=value, fix=fix)


class PredictError(BridgeError):
    """The model's own code raised while loading or predicting; carries the child's traceback."""

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
        stage: str = "predict",
    ) -> None:
        self.error_type = error_type
        self.stage = stage
        super().__init__(
            what, value=value, fix=fix, traceback=traceback, returncode=returncode, stderr=stderr
        )
