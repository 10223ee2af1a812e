"""`envrun resolve`: the env a model declares, its fingerprint and what was ignored."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from envrun.cli.options import Subparsers, add_env_options, add_model_dir, add_verb
from envrun.errors import EXIT_OK

if TYPE_CHECKING:
    from envrun.api import Resolution
    from envrun.cli.reporter import TerminalReporter
    from envrun.env.requirements import ReqLine
    from envrun.settings import Settings


def register(subparsers: Subparsers) -> None:
    """Add `resolve` and its flags."""
    r = add_verb(
        subparsers,
        "resolve",
        help="show the env a model declares, its fingerprint and what was ignored",
        description="Read the env the model declares (python_env.yaml, else requirements.txt, "
        "else conda.yaml), find the interpreter and the installer for it, and show the "
        "requirements with where each came from, the index options, the fingerprint that keys "
        "the cached env, the model's input signature and what was ignored. Builds nothing.",
    )
    add_model_dir(r)
    r.add_argument("--json", action="store_true", help="print the resolution as JSON")
    add_env_options(r)
    r.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    """Resolve and print the resolution."""
    from envrun import api

    resolution = api.resolve(args.model_dir, settings)
    if args.json:
        reporter.result(json.dumps(resolution.to_json(), indent=2))
    else:
        reporter.result(render_resolution(resolution))
    return EXIT_OK


def render_resolution(resolution: Resolution) -> str:
    """The resolution as aligned text lines."""
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
        f"as of:        {spec.as_of_reason or 'now'}"
        + ("; exact pins installed as declared" if spec.exact_pins else ""),
    ]
    lines += [f"              {note}" for note in spec.added]
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


def _req_display(req: ReqLine) -> str:
    text = req.text
    if req.hashes:
        text += f"  ({len(req.hashes)} hash{'es' if len(req.hashes) != 1 else ''})"
    return f"{text}    [{req.origin}]"
