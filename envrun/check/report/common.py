"""What every rendering of a check report shares: number formats and the facts' wording."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from envrun.check.document import CheckReport, PackageDifference, SideReport
from envrun.check.leaves import OutputDiff
from envrun.check.variants import VariantChange

DASH = "\u2014"
SIGNATURE_HEAD = ("Input", "Column", "Declared", "Value", "Through JSON", "In process", "Severity")
_TIMING_ORDER = ("resolve", "build", "load", "predict", "total")

# A renderer takes the typed report, or a report document (JSON) that it reads first.
ReportLike = CheckReport | Mapping[str, Any]


def as_report(report: ReportLike) -> CheckReport:
    """The typed report; a document is read with CheckReport.from_json (InputError if foreign)."""
    return report if isinstance(report, CheckReport) else CheckReport.from_json(report)


def text(value: Any, default: str = "") -> str:
    """A display string for a scalar; None becomes the default."""
    if value is None:
        return default
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return fmt_number(value)
    return str(value)


def fmt_number(value: Any) -> str:
    """A float in 3 significant digits; scientific when tiny or huge; "inf"/None pass through."""
    if value is None:
        return DASH
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or not math.isfinite(value):
        return str(value)  # float("inf") prints as "inf", as compare.py writes it
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def fmt_seconds(value: Any) -> str:
    """A duration: milliseconds below one second, else seconds."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return DASH if value is None else str(value)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"


def fmt_bytes(value: Any) -> str:
    """A byte count in B, KB, MB or GB."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return DASH
    size, unit = float(value), "B"
    for unit in ("B", "KB", "MB", "GB"):  # the unit reached is the one printed
        if size < 1024 or unit == "GB":
            break
        size /= 1024
    return f"{size:.0f} B" if unit == "B" else f"{size:.3g} {unit}"


def short_hash(value: Any, length: int = 12) -> str:
    """The first characters of a digest or fingerprint, keeping an "algo:" prefix."""
    raw = text(value)
    algo, sep, digest = raw.rpartition(":")
    return f"{algo}{sep}{digest[:length]}" if digest else raw


def headline(report: CheckReport) -> str:
    """The verdict headline without a leading "Status:" that would repeat the badge."""
    return strip_status(report.verdict.headline, report.verdict.status)


def strip_status(line: str, status: str) -> str:
    """A summary without a leading "status:" that a badge or chip already shows."""
    if status and line.lower().startswith(status.lower() + ":"):
        return line[len(status) + 1 :].strip()
    return line


def python_text(side: SideReport) -> str:
    """ "cpython 3.11.7" for a side's interpreter."""
    return " ".join(p for p in (side.python.implementation, side.python.version) if p)


def installer(side: SideReport) -> str:
    """ "uv 0.13.9 (default)" for an env side, "" when the side has no env."""
    inst = side.env.installer if side.env else None
    if inst is None:
        return ""
    name = " ".join(p for p in (inst.name, inst.version) if p)
    return f"{name} ({inst.reason})" if inst.reason else name


def cache_text(side: SideReport) -> str:
    """ "hit, reused" or "miss, built", with the store's reason when it gave one."""
    cache = side.env.cache if side.env else None
    words = {"hit": "hit, reused", "miss": "miss, built"}.get(cache or "", "")
    reason = side.env.reason if side.env else None
    return f"{words} ({reason})" if words and reason else words


def change_text(change: VariantChange) -> str:
    """One requirement an upgraded or --with env changed: "numpy ==2.2.6 -> 2.4.6"."""
    declared = text(change.declared, "not declared")  # None: --with added the package
    return f"{change.name} {declared} \u2192 {change.requested or '?'}"


def timings(side: SideReport) -> list[tuple[str, str]]:
    """The side's timings as (phase, formatted) pairs, known phases first."""
    raw = side.timings
    keys = [k for k in _TIMING_ORDER if k in raw] + [k for k in raw if k not in _TIMING_ORDER]
    return [(k, fmt_seconds(raw[k])) for k in keys]


def side_problem(side: SideReport) -> str:
    """Why a side is skipped or failed, as one line ("" when it ran)."""
    error = side.error
    if error is not None:
        where = f" during {error.stage}" if error.stage else ""
        line = f"{error.type or 'error'}{where}: {error.message}".rstrip(": ")
        return f"{line} ({error.diagnosis})" if error.diagnosis else line
    return text(side.reason)


def version_columns(report: CheckReport, rows: Sequence[PackageDifference]) -> list[str]:
    """Side keys that appear in package version maps, in report order, then any others."""
    present = {k for row in rows for k in row.versions}
    keys = [side.key for side in report.sides]
    return [k for k in keys if k in present] + sorted(present - set(keys))


def installed_table(report: CheckReport) -> tuple[list[str], list[tuple[str, list[str | None]]]]:
    """Every package any side lists: (side keys, rows of name and per-side version)."""
    cols = [(s.key, s.packages) for s in report.sides if s.packages]
    names = sorted({n for _, pk in cols for n in pk}, key=str.lower)

    def cell(packages: Mapping[str, str | None], name: str) -> str | None:
        if name not in packages:
            return None
        return "not installed" if packages[name] is None else text(packages[name])

    return [k for k, _ in cols], [(n, [cell(pk, n) for _, pk in cols]) for n in names]


def tolerance_text(report: CheckReport) -> str:
    """The tolerance in one line: explicit rtol/atol, or the per-dtype defaults."""
    tol = report.tolerance
    if tol.rtol is not None or tol.atol is not None:
        return f"rtol {fmt_number(tol.rtol)}, atol {fmt_number(tol.atol)}"
    parts = [f"{k} rtol {fmt_number(r)} atol {fmt_number(a)}" for k, (r, a) in tol.defaults.items()]
    return ("defaults: " + "; ".join(parts)) if parts else ""


def first_diffs(output: OutputDiff, limit: int = 3) -> str:
    """The first differing elements of an output, in one line."""
    return "; ".join(f"{d.position}: {d.left} vs {d.right}" for d in output.first[:limit])


def types_text(output: OutputDiff) -> str:
    """The output's type on both sides, once when they agree."""
    left, right = output.left_type, output.right_type
    return left if left == right else f"{left} vs {right}"
