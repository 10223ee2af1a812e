"""The check report as GitHub-flavoured Markdown: pull request comments and step summaries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envrun.check.document import CheckReport
from envrun.check.report.common import (
    DASH,
    SIGNATURE_HEAD,
    ReportLike,
    as_report,
    cache_text,
    change_text,
    first_diffs,
    fmt_bytes,
    fmt_number,
    headline,
    installed_table,
    installer,
    python_text,
    short_hash,
    side_problem,
    strip_status,
    text,
    timings,
    tolerance_text,
    types_text,
    version_columns,
)

_OUTPUT_HEAD = ("Output", "Status", "Types", "Differing", "Max abs", "Max rel")
_MAX_CELL = 400  # long tracebacks would swamp a PR table; the JSON report keeps them whole


def _md(value: Any) -> str:
    """Escape text for Markdown: no stray emphasis, HTML, table breaks or line breaks."""
    s = text(value).replace("\\", "\\\\").replace("&", "&amp;")
    s = s.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("*", "\\*")
    s = re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", s).replace("`", "\\`")
    return re.sub(r"\s*\n\s*", " ", s).strip()


def _cell(value: Any) -> str:
    s = _md(value)
    return s if len(s) <= _MAX_CELL else s[: _MAX_CELL - 1] + "\u2026"


def _code(value: Any, *, cell: bool = False) -> str:
    """A code span that survives backticks in the value, and pipes when it sits in a table."""
    s = re.sub(r"\s*\n\s*", " ", text(value))
    s = s.replace("|", "\\|") if cell else s  # GFM splits table rows on every unescaped pipe
    if not s:
        return ""
    fence = "`" * (max((len(r) for r in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(c or DASH for c in row) + " |" for row in rows]
    return [*out, ""]


def render_markdown(report: ReportLike) -> str:
    """The report as GitHub-flavoured Markdown, for pull requests and step summaries."""
    report = as_report(report)
    verdict, model = report.verdict, report.model
    name = Path(model.path or "model").name or "model"
    out = [f"### envrun check: {_code(name)}", ""]
    line = f"**{verdict.status.upper()}**"
    if headline(report):
        line += f" {DASH} {_md(headline(report))}"
    line += f" (exit code {_md(verdict.exit_code)})"
    out += [line, ""]
    facts = [
        _code(model.path),
        f"digest {_code(model.digest)}" if model.digest else "",
        f"{model.files} files" if model.files is not None else "",
        fmt_bytes(model.bytes) if model.bytes is not None else "",
        _code(model.loader_module),
        f"MLflow {_md(model.mlflow_version)}" if model.mlflow_version else "",
    ]
    out.append("- **Model** " + " \u00b7 ".join(f for f in facts if f))
    prints = [
        f"{_md(s.key)} {_code(short_hash(s.env.fingerprint, 16))}"
        for s in report.sides
        if s.env and s.env.fingerprint
    ]
    if prints:
        out.append("- **Env fingerprint** " + " · ".join(prints))
    env_side = report.side("env")
    if env_side is not None and env_side.env is not None and env_side.env.as_of:
        out.append(f"- **Resolution** {_md(env_side.env.as_of)}")
    for inp in report.inputs:
        origin = f" ({_md(inp.origin)})" if inp.origin else ""
        digest = f", sha256 {_code(short_hash(inp.sha256))}" if inp.sha256 else ""
        out.append(f"- **Input** {_code(inp.name)}{origin}{digest}")
    if tolerance_text(report):
        out.append(f"- **Tolerance** {_md(tolerance_text(report))}")
    compared = [_md(c) for c in verdict.compared]
    out.append("- **Compared** " + (", ".join(compared) if compared else "nothing"))
    for nc in verdict.not_compared:
        out.append(f"- **Not compared** {_md(nc.side)}: {_md(nc.reason)}")
    findings = [f"  - {_md(f)}" for f in verdict.findings]
    if findings:
        out += ["- **Findings**", *findings]
    out += ["", *_sides(report), *_packages(report), *_comparisons(report)]
    out += [*_signature(report), *_warnings(report), *_installed(report)]
    return "\n".join(out).rstrip() + "\n"


def _sides(report: CheckReport) -> list[str]:
    rows, notes = [], []
    for side in report.sides:
        fingerprint = side.env.fingerprint if side.env else None
        facts = [side.status, python_text(side), side.python.platform, installer(side)]
        facts += [cache_text(side)]
        fp = _code(short_hash(fingerprint), cell=True)
        times = _cell(", ".join(f"{k} {v}" for k, v in timings(side)))
        name = f"**{_cell(side.key)}** {_cell(side.label)}"
        rows.append([name, *map(_cell, facts), fp, times])
        if side_problem(side):
            notes.append(f"- **{_md(side.key)}** {_md(side.status)}: {_md(side_problem(side))}")
        notes += [
            f"- **{_md(side.key)}** changed {_md(change_text(ch))}" for ch in side.changes or ()
        ]
    if not rows:
        return []
    head = ["Side", "Status", "Python", "Platform", "Installer", "Cache", "Fingerprint", "Timings"]
    return ["#### Environments", "", *_table(head, rows), *notes, *([""] if notes else [])]


def _packages(report: CheckReport) -> list[str]:
    diffs = report.package_differences
    if not diffs:
        return []
    cols = version_columns(report, diffs)
    rows = []
    for d in diffs:
        name = _cell(d.name)
        cells = [
            _cell(text(d.versions[c], "not installed")) if c in d.versions else "" for c in cols
        ]
        rows.append([f"**{name}** (critical)" if d.critical else name, *cells])
    return ["#### Package versions that differ", "", *_table(["Package", *map(_md, cols)], rows)]


def _comparisons(report: CheckReport) -> list[str]:
    if not report.comparisons:
        return []
    out = ["#### Outputs", ""]
    for comp in report.comparisons:
        pair = f"{_md(comp.left)} vs {_md(comp.right)}"
        line = f"**{pair}** on {_code(comp.input)}: **{_md(comp.status)}**"
        detail = strip_status(comp.summary or text(comp.reason), comp.status)
        out += [f"{line} {DASH} {_md(detail)}" if detail else line, ""]
        outs = [o for o in comp.outputs if o.status != "equal"]
        rows = []
        for o in outs:
            counts = f"{o.differing} / {o.total}"
            facts = [o.status, types_text(o), counts, fmt_number(o.max_abs)]
            facts += [fmt_number(o.max_rel), first_diffs(o)]
            rows.append([_code(o.path, cell=True), *map(_cell, facts)])
        if rows:
            out += _table([*_OUTPUT_HEAD, "First differences"], rows)
        notes = [f"- {_code(o.path)} {_md(n)}" for o in outs for n in o.notes]
        out += [*notes, *([""] if notes else [])]
    return out


def _signature(report: CheckReport) -> list[str]:
    rows = []
    for inp in report.inputs:
        for f in inp.signature_findings:
            facts = (f.column, f.declared, f.json_value, f.json_path, f.in_process, f.severity)
            rows.append([_code(inp.name, cell=True), *map(_cell, (*facts, f.message))])
    if not rows:
        return []
    return ["#### Signature findings", "", *_table([*SIGNATURE_HEAD, "Message"], rows)]


def _warnings(report: CheckReport) -> list[str]:
    warnings = [f"- {_md(w)}" for w in report.warnings]
    return ["#### Warnings", "", *warnings, ""] if warnings else []


def _installed(report: CheckReport) -> list[str]:
    cols, rows = installed_table(report)
    if not rows:
        return []
    counts = ", ".join(
        f"{k} {sum(1 for _, c in rows if c[i] is not None)}" for i, k in enumerate(cols)
    )
    body = [
        [_code(n, cell=True), *(_cell(c) if c is not None else "" for c in cells)]
        for n, cells in rows
    ]
    out = ["<details>", f"<summary>Installed packages ({_md(counts)})</summary>", ""]
    out += _table(["Package", *map(_md, cols)], body)
    for side in report.sides:
        env = side.env
        if env is None:
            continue
        reqs = ", ".join(_code(r) for r in env.requirements or ())
        where = [f"env {_code(env.path)}" if env.path else ""]
        where += [f"fingerprint {_code(env.fingerprint)}" if env.fingerprint else ""]
        if any(where):
            src = f" from {_code(env.spec_source)}" if env.spec_source else ""
            out.append(f"- **{_md(side.key)}** " + ", ".join(w for w in where if w))
            out += [f"  declared{src}: {reqs}"] if reqs else []
            out += [f"  {_md(env.as_of)}"] if env.as_of else []
    return [*out, "", "</details>", ""]
