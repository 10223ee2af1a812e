"""The worker's one exception type, and the optional imports whose absence it reports."""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

from .protocol import BAD_REQUEST


class Failure(Exception):
    """A failed stage, with a message written for the user and the original traceback."""

    def __init__(
        self,
        stage: str,
        message: str,
        error_type: str = "",
        tb: str = "",
        extra: dict[str, Any] | None = None,
        *,
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.error_type = error_type or ("RequestError" if stage == "request" else "InputError")
        self.tb = tb
        self.extra = extra or {}
        # MLflow's error code, for request and input failures (as its scoring server answers).
        self.code = code or (BAD_REQUEST if stage in ("request", "input") else "")

    @classmethod
    def wrap(
        cls, stage: str, exc: BaseException, message: str = "", extra: dict[str, Any] | None = None
    ) -> Failure:
        """Wrap the exception being handled, keeping its full formatted traceback."""
        text = message or str(exc) or type(exc).__name__
        return cls(stage, text, type(exc).__name__, traceback.format_exc(), extra)

    def as_dict(self) -> dict[str, Any]:
        """The error as a response carries it."""
        out = {
            "stage": self.stage,
            "type": self.error_type,
            "message": self.message,
            "traceback": self.tb,
        }
        if self.code:
            out["code"] = self.code
        out.update(self.extra)
        return out


def optional(name: str) -> Any:
    """Import numpy or pandas if the environment has it (a broken install counts as absent)."""
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def need(name: str, why: str) -> Any:
    """The module, or a Failure saying which input needs it and what to send instead."""
    module = optional(name)
    if module is None:
        raise Failure(
            "input",
            f"{why} needs {name}, which is not installed in the environment at {sys.prefix}; send JSON "
            f"with 'inputs' or 'instances' instead, or add {name} to the model's requirements",
            "ModuleNotFoundError",
        )
    return module




def qualname(value: Any) -> str:
    """module.Qualname of a value's type, for messages."""
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"
