"""The terminal view of a check report: the verdict first, then just enough to act on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from envrun.check.report.markdown import fmt_number, fmt_seconds

_MARK = {"equal": "=", "close": "≈", "differs": "≠", "skipped": "-"}


def _side_line(key: str, side: Mapping[str, Any]) -> str:
    python = side.get("python") or {}
    parts = [f"python {python.get('version', '?')}"]
    env = side.get("env") or {}
    installer = env.get("installer") or {}
    if installer:
        parts.append(
            f"{installer.get('name')} {installer.get('version')} ({installer.get('reason')})"
        )
    if env.get("cache"):
        parts.append(f"cache {env['cache']}")
    if env.get("fingerprint"):
        parts.append(f"fingerprint {str(env['fingerprint'])[:12]}")
    timings = side.get("timings") or {}
    if timings:
        parts.append(", ".join(f"{k} {fmt_seconds(v)}" for k, v in timings.items()))
    status = str(side.get("status") or "unknown")
    if status != "ok":
        parts = [f"{status.upper()}: {side.get('reason') or ''}"]
    return f"  {key:<9} {'; '.join(parts)}"


def render_terminal(doc: Mapping[str, Any], *, verbose: bool = False) -> str:  # noqa: PLR0912
    """A short, readable summary of a check report for a terminal or a CI log."""
    verdict = doc.get("verdict") or {}
    model = doc.get("model") or {}
    lines = [
        f"envrun check: {model.get('path')}  (model {str(model.get('digest', ''))[:19]})",
        "sides:",
    ]
    for key, side in (doc.get("sides") or {}).items():
        lines.append(_side_line(key, side))
    comparisons = doc.get("comparisons") or []
    if comparisons:
        lines.append("comparisons:")
    for comp in comparisons:
        mark = _MARK.get(comp.get("status", ""), "?")
        pair = f"{comp.get('left')} {mark} {comp.get('right')}"
        lines.append(f"  {pair:<22} {comp.get('input')}: {comp.get('summary')}")
        for out in comp.get("outputs") or []:
            if out.get("status") != "differs" and not verbose:
                continue
            where = out.get("path") or "(output)"
            lines.append(
                f"      {where}: {out.get('differing')}/{out.get('total')} differ, "
                f"max abs {fmt_number(out.get('max_abs'))}, max rel {fmt_number(out.get('max_rel'))}"
            )
            for diff in (out.get("first") or [])[:3]:
                lines.append(
                    f"        at {diff.get('position')}: {diff.get('left')} vs {diff.get('right')}"
                )
            for note in out.get("notes") or []:
                lines.append(f"        note: {note}")
    rows = doc.get("package_differences") or []
    if rows:
        lines.append("packages that differ:")
        for row in rows[: None if verbose else 12]:
            versions = ", ".join(f"{k} {v or 'not installed'}" for k, v in row["versions"].items())
            lines.append(
                f"  {row['name']}{' (critical)' if row.get('critical') else ''}: {versions}"
            )
        if not verbose and len(rows) > 12:
            lines.append(f"  … {len(rows) - 12} more (see the report, or -v)")
    for item in doc.get("inputs") or []:
        lines += _signature_lines(item)
    for missing in verdict.get("not_compared") or []:
        lines.append(f"not compared: {missing.get('side')}: {missing.get('reason')}")
    for fact in verdict.get("findings") or []:
        lines.append(f"finding: {fact}")
    env_error = ((doc.get("sides") or {}).get("env") or {}).get("error") or {}
    if env_error.get("traceback"):
        shown = str(env_error["traceback"]).rstrip().splitlines()[-15:]
        lines += ["traceback from the model's env:", *(f"  | {line}" for line in shown)]
    lines.append(f"verdict: {verdict.get('headline')}")
    return "\n".join(lines)


def _signature_lines(item: Mapping[str, Any]) -> list[str]:
    """One line per kind of discrepancy; columns that behave alike are named together."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for finding in item.get("signature_findings") or []:
        key = tuple(
            str(finding.get(k))
            for k in ("declared", "natural_dtype", "in_process", "envrun", "severity")
        )
        groups.setdefault(key, []).append(finding)
    lines = []
    for found in groups.values():
        also = [str(f.get("column")) for f in found[1:]]
        more = f" (also columns {', '.join(also)})" if also else ""
        lines.append(f"signature ({item.get('name')}): {found[0].get('message')}{more}")
    return lines
