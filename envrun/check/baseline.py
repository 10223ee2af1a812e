"""Stored baselines: a model's outputs, kept losslessly, with the environment that produced them."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envrun import __version__
from envrun.errors import InputError
from envrun.fsutil import write_atomic

SCHEMA = "envrun.baseline/1"


@dataclass(frozen=True)
class StoredOutput:
    """One input's output: the worker's encoded value tree and its .npy side files."""

    input_name: str
    input_sha256: str
    output: dict[str, Any]
    arrays: dict[str, bytes]
    summary: str


@dataclass(frozen=True)
class Baseline:
    """A baseline file's content."""

    path: Path
    created: str
    envrun_version: str
    model: dict[str, Any]
    side: dict[str, Any]  # python, packages, env (fingerprint, installer): where it came from
    outputs: dict[str, StoredOutput] = field(default_factory=dict)  # by input sha256

    def find(self, input_sha256: str) -> StoredOutput | None:
        """The stored output for an input with this content hash."""
        return self.outputs.get(input_sha256)


def save_baseline(
    path: Path,
    *,
    created: str,
    model: Mapping[str, Any],
    side: Mapping[str, Any],
    outputs: list[StoredOutput],
) -> Path:
    """Write a baseline file atomically; returns its path."""
    doc = {
        "schema": SCHEMA,
        "created": created,
        "envrun_version": __version__,
        "model": dict(model),
        "side": dict(side),
        "outputs": [
            {
                "input": out.input_name,
                "input_sha256": out.input_sha256,
                "summary": out.summary,
                "output": out.output,
                "arrays": {
                    name: base64.b64encode(data).decode("ascii")
                    for name, data in sorted(out.arrays.items())
                },
            }
            for out in outputs
        ],
    }
    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    return write_atomic(
        path, text, what="baseline file", option="--save-baseline", make_parents=True
    )


def _malformed(path: Path, detail: str) -> InputError:
    return InputError(
        f"{path.name} is not an envrun baseline ({detail})",
        value=str(path),
        fix="pass a file written by `envrun check --save-baseline`, or write a new one",
    )


def load_baseline(path: Path) -> Baseline:
    """Read a baseline file; a missing, foreign or damaged file is an InputError."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            "baseline file not found",
            value=str(path),
            fix="check the path, or create one with --save-baseline",
        ) from None
    except (OSError, ValueError) as exc:
        raise _malformed(path, f"unreadable: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise _malformed(path, f"schema {found!r}, expected {SCHEMA!r}")
    outputs: dict[str, StoredOutput] = {}
    try:
        for item in doc["outputs"]:
            arrays = {name: base64.b64decode(text) for name, text in item["arrays"].items()}
            stored = StoredOutput(
                input_name=str(item["input"]),
                input_sha256=str(item["input_sha256"]),
                output=dict(item["output"]),
                arrays=arrays,
                summary=str(item.get("summary", "")),
            )
            outputs[stored.input_sha256] = stored
        return Baseline(
            path=path,
            created=str(doc.get("created", "")),
            envrun_version=str(doc.get("envrun_version", "")),
            model=dict(doc.get("model") or {}),
            side=dict(doc.get("side") or {}),
            outputs=outputs,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _malformed(path, f"damaged outputs: {type(exc).__name__}: {exc}") from None
