"""The terminal view of a check report: the verdict first, then just enough to act on it."""

from __future__ import annotations

from envrun.check.document import InputReport, SideReport
from envrun.check.report.common import ReportLike, as_report, fmt_number, fmt_seconds

_MARK = {"equal": "=", "close": "≈", "differs": "≠", "skipped": "-"}


def _side_line(side: SideReport) -> str:
    parts = [f"python {side.python.version or '?'}"]
    env = side.env
    if env is not None and env.installer is not None:
        inst = env.installer
        parts.append(f"{inst.name} {inst.version} ({inst.reason})")
    if env is not None and env.cache:
        parts.append(f"cache {env.cache}")
    if env is not None and env.fingerprint:
        parts.append(f"fingerprint {env.fingerprint[:12]}")
    if env is not None and env.as_of:
        parts.append(env.as_of)
    if side.timings:
        parts.append(", ".join(f"{k} {fmt_seconds(v)}" for k, v in side.timings.items()))
    if side.status != "ok":
        parts = [f"{side.status.upper()}: {side.reason or ''}"]
    return f"  {side.key:<9} {'; '.join(parts)}"


def render_terminal(report: ReportLike, *, verbose: bool = False) -> str:
    """A short, readable summary of a check report for a terminal or a CI log."""
    report = as_report(report)
    verdict, model = report.verdict, report.model
    lines = [f"envrun check: {model.path}  (model {model.digest[:19]})", "sides:"]
    lines += [_side_line(side) for side in report.sides]
    if report.comparisons:
        lines.append("comparisons:")
    for comp in report.comparisons:
        pair = f"{comp.left} {_MARK[comp.status]} {comp.right}"
        lines.append(f"  {pair:<22} {comp.input}: {comp.summary}")
        for out in comp.outputs:
            if out.status != "differs" and not verbose:
                continue
            lines.append(
                f"      {out.path or '(output)'}: {out.differing}/{out.total} differ, "
                f"max abs {fmt_number(out.max_abs)}, max rel {fmt_number(out.max_rel)}"
            )
            lines += [f"        at {d.position}: {d.left} vs {d.right}" for d in out.first[:3]]
            lines += [f"        note: {note}" for note in out.notes]
    rows = report.package_differences
    if rows:
        lines.append("packages that differ:")
        for row in rows[: None if verbose else 12]:
            versions = ", ".join(f"{k} {v or 'not installed'}" for k, v in row.versions.items())
            lines.append(f"  {row.name}{' (critical)' if row.critical else ''}: {versions}")
        if not verbose and len(rows) > 12:
            lines.append(f"  … {len(rows) - 12} more (see the report, or -v)")
    for item in report.inputs:
        if item.origin.startswith("synthetic"):
            lines.append(f"input: {item.origin} ({item.name})")
        lines += _signature_lines(item)
    lines += [f"not compared: {n.side}: {n.reason}" for n in verdict.not_compared]
    lines += [f"finding: {fact}" for fact in verdict.findings]
    env = report.side("env")
    if env is not None and env.error is not None and env.error.traceback:
        shown = env.error.traceback.rstrip().splitlines()[-15:]
        lines += ["traceback from the model's env:", *(f"  | {line}" for line in shown)]
    if env is not None and env.error is not None and env.error.diagnosis:
        lines.append(env.error.diagnosis)
    lines.append(f"verdict: {verdict.headline}")
    return "\n".join(lines)


def _signature_lines(item: InputReport) -> list[str]:
    """One line per kind of discrepancy; columns that behave alike are named together."""
    groups: dict[tuple[str, ...], list[str]] = {}
    messages: dict[tuple[str, ...], str] = {}
    for f in item.signature_findings:
        key: tuple[str, ...] = (f.declared, f.natural_dtype, f.in_process, f.envrun, f.severity)
        groups.setdefault(key, []).append(f.column)
        messages.setdefault(key, f.message)
    lines = []
    for key, columns in groups.items():
        more = f" (also columns {', '.join(columns[1:])})" if columns[1:] else ""
        lines.append(f"signature ({item.name}): {messages[key]}{more}")
    return lines
