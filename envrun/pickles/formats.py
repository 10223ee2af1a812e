"""Safety scan reports as text: a terminal table, JSON (`envrun.scan/1`) and SARIF 2.1.0.

Each renderer returns a string; the caller decides where it goes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from envrun import __version__
from envrun.pickles.safety import SCHEMA, Finding, SafetyReport
from envrun.pickles.tables import CATEGORIES, CODE_BY_VALUE, DANGEROUS, SAFE, UNKNOWN

_SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# GitHub ranks security alerts by this number (0-10): all of these can take over the machine.
_SEVERITY = {"unresolved": "8.8", "interpreter": "8.1"}


def exit_code(reports: Sequence[SafetyReport]) -> int:
    """1 when any model has a dangerous finding, else 0."""
    return max((r.exit_code for r in reports), default=0)


# --- table ---------------------------------------------------------------------------------------


def _called(f: Finding) -> str:
    if not f.calls:
        return "not called"
    return f"called by {'/'.join(f.calls)} at byte {f.first_call}"


def render_table(reports: Sequence[SafetyReport], *, verbose: bool = False) -> str:
    """One block per model: dangerous and code-by-value findings (every finding with verbose)."""
    lines: list[str] = []
    for report in reports:
        counts = {v: len(report.of(v)) for v in (DANGEROUS, CODE_BY_VALUE, UNKNOWN, SAFE)}
        tally = ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in counts.items())
        files = len(report.files)
        lines.append(f"{report.model}: {files} pickle file{'s' * (files != 1)}; {tally}")
        shown = report.findings if verbose else report.of(DANGEROUS) + report.of(CODE_BY_VALUE)
        for f in shown:
            label = f"{f.verdict} ({f.category})" if f.category else f.verdict
            lines.append(f"  {label:<26} {f.callable}")
            lines.append(f"  {'':<26} {f.where}, {f.how}, {_called(f)}: {f.reason}")
        for file in report.files:
            if file.error:
                lines.append(f"  {'unreadable':<26} {file.path}: {file.error}")
        if not shown and not verbose:
            lines.append("  nothing dangerous found")
    return "\n".join(lines) + "\n"


# --- JSON ----------------------------------------------------------------------------------------


def to_document(reports: Sequence[SafetyReport]) -> dict[str, Any]:
    """The `envrun.scan/1` document: the envrun version, the exit code and one entry per model.

    Per model: model, digest ("sha256:..."), cached, verdict (dangerous | code_by_value | clean),
    counts per verdict, and files: path, protocol, error, notes and findings. A finding has
    member, offset, module, name, callable, how, called, calls, first_call, count, verdict,
    category (dangerous only) and reason.
    """
    return {
        "schema": SCHEMA,
        "envrun": __version__,
        "exit_code": exit_code(reports),
        "categories": CATEGORIES,
        "models": [r.to_json() for r in reports],
    }


def render_json(reports: Sequence[SafetyReport]) -> str:
    """to_document() as indented JSON."""
    return json.dumps(to_document(reports), indent=2) + "\n"


# --- SARIF ---------------------------------------------------------------------------------------


def _rule_id(f: Finding) -> str:
    return f"pickle/{f.category}" if f.verdict == DANGEROUS else "pickle/code-by-value"


def _rules() -> list[dict[str, Any]]:
    rules = []
    for category, text in CATEGORIES.items():
        title = f"A pickle calls something that {text} when loaded"
        rules.append({
            "id": f"pickle/{category}",
            "name": f"DangerousPickle{category.title()}",
            "shortDescription": {"text": title},
            "fullDescription": {"text": f"{title}. Loading the model runs it with your rights."},
            "help": {"text": "Do not load the model unless you trust its source "
                     "(envrun --trust-model); otherwise remove the file or save the model again."},
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["security", "pickle"],
                           "security-severity": _SEVERITY.get(category, "9.8")},
        })  # fmt: skip
    rules.append({
        "id": "pickle/code-by-value",
        "name": "PickleCodeByValue",
        "shortDescription": {"text": "A pickle rebuilds functions or classes from their code"},
        "fullDescription": {"text": "cloudpickle or dill stored code by value, as MLflow does "
                            "for a PythonModel defined in a script; review that code."},
        "help": {"text": "Move the code into a module under the model's code paths to load it "
                 "by reference."},
        "defaultConfiguration": {"level": "note"},
        "properties": {"tags": ["pickle"]},
    })  # fmt: skip
    return rules


def _uri(report: SafetyReport, file: str, base: Path | None) -> str:
    model = Path(report.model)
    if base is not None:
        try:
            model = model.resolve().relative_to(Path(base).resolve())
        except ValueError:  # outside the base: an absolute path is only a URI as file://
            return (model.resolve() / file).as_uri()
    path = PurePosixPath(model.as_posix()) / file
    return quote(path.as_posix().removeprefix("./"))


def _result(f: Finding, uri: str, index: int) -> dict[str, Any]:
    inside = f" in archive member {f.member}" if f.member else ""
    where = "" if f.offset is None else f" at byte {f.offset}"
    text = f"{f.callable} ({f.how}{where}{inside}), {_called(f)}: {f.reason}"
    region: dict[str, Any] = {"startLine": 1}
    if f.offset is not None and not f.member:  # a member's offset is not the file's
        region.update(byteOffset=f.offset, byteLength=1)
    key = f"{uri}\0{f.member}\0{f.callable}\0{f.how}"
    return {
        "ruleId": _rule_id(f),
        "ruleIndex": index,
        "level": "error" if f.verdict == DANGEROUS else "note",
        "message": {"text": text},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": region}}],
        "partialFingerprints": {"envrunPickleFinding/v1": hashlib.sha256(key.encode()).hexdigest()},
    }


def render_sarif(reports: Sequence[SafetyReport], *, base: Path | None = None) -> str:
    """SARIF 2.1.0: dangerous findings as errors, code by value as notes, one run for all models.

    artifactLocation URIs are the model path joined with the file's path inside it, relative to
    `base` (the repository root, for GitHub code scanning) when given.
    """
    rules = _rules()
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results = [
        _result(f, _uri(report, f.file, base), index[_rule_id(f)])
        for report in reports
        for f in report.of(DANGEROUS) + report.of(CODE_BY_VALUE)
    ]
    run = {
        "tool": {"driver": {"name": "envrun", "version": __version__, "rules": rules}},
        "results": results,
    }  # fmt: skip
    doc = {"$schema": _SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2) + "\n"
