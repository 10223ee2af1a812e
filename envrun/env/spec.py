"""The resolved environment spec and its fingerprint (a hash over everything that changes the env)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envrun.env.interpreters import Interpreter
    from envrun.env.requirements import IndexOptions, ReqLine

# Bump when the layout of a built env or of its state file changes: old envs are then rebuilt.
CACHE_FORMAT = 1


@dataclass(frozen=True)
class EnvSpec:
    """One environment, as the model declares it, with where each part came from."""

    python: str | None
    python_source: str
    build_dependencies: tuple[ReqLine, ...]
    requirements: tuple[ReqLine, ...]
    constraints: tuple[ReqLine, ...]
    index: IndexOptions
    files: tuple[tuple[str, str], ...]
    source: str
    ignored: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # The upload-time cutoff for what the declaration does not pin exactly (RFC 3339, UTC), or
    # None to resolve as of now; its reason; set by env.asof.apply_as_of.
    as_of: str | None = None
    as_of_reason: str = ""
    exact_pins: bool = False
    added: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view of the spec."""
        return {
            "python": self.python,
            "python_source": self.python_source,
            "source": self.source,
            "build_dependencies": [r.to_json() for r in self.build_dependencies],
            "requirements": [r.to_json() for r in self.requirements],
            "constraints": [r.to_json() for r in self.constraints],
            "index": self.index.to_json(),
            "files": [{"path": p, "sha256": h} for p, h in self.files],
            "ignored": list(self.ignored),
            "warnings": list(self.warnings),
            "as_of": {"cutoff": self.as_of, "reason": self.as_of_reason},
            "exact_pins": self.exact_pins,
            "added": list(self.added),
        }


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: the input to every hash."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(
    spec: EnvSpec,
    *,
    interpreter: Interpreter,
    installer: str,
    installer_version: str,
    index: IndexOptions,
    config_constraints: tuple[tuple[str, str], ...] = (),
) -> str:
    """sha256 over the canonical JSON of everything that changes what gets installed."""
    payload = {
        "cache_format": CACHE_FORMAT,
        "build_dependencies": [_req_key(r) for r in spec.build_dependencies],
        "requirements": [_req_key(r) for r in spec.requirements],
        "constraints": [_req_key(r) for r in spec.constraints],
        # File contents matter even where the flattened lines look alike (a wheel rebuilt in place).
        "files": sorted(h for _, h in spec.files),
        "index": index.to_json(),
        "config_constraints": sorted(h for _, h in config_constraints),
        "interpreter": {
            "version": interpreter.version,
            "implementation": interpreter.implementation,
            "platform": interpreter.platform,
        },
        "installer": {"name": installer, "version": installer_version},
        # The cutoff gives an unpinned declaration a stable key; "now" has none to give.
        "as_of": spec.as_of or "now",
        "exact_pins": spec.exact_pins,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _req_key(req: ReqLine) -> list[Any]:
    # A local file is identified by its name and content hash (in `files`), not by where the
    # model directory happens to live, so a moved or copied model reuses its env.
    text = f"local:{PurePath(req.local_path).name}" if req.local_path else req.text
    return [text, sorted(req.hashes)]
