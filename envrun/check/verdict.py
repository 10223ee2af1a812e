"""A check's verdict: which sides differ, what could explain it, and the exit code it implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from envrun.check.baseline import StoredOutput
from envrun.check.document import (
    ComparisonReport,
    EnvInfo,
    NotCompared,
    PackageDifference,
    PythonInfo,
    SideError,
    SideReport,
    SideState,
    Verdict,
    VerdictStatus,
)
from envrun.check.variants import VariantChange
from envrun.errors import EXIT_CHECK_FAILED, EXIT_MODEL, EXIT_OK, EXIT_USAGE
from envrun.pickles.critical import is_critical


@dataclass
class Side:
    """One side's runs; mutable while the check runs, then frozen into a SideReport."""

    key: str
    label: str
    status: SideState = "ok"
    reason: str | None = None
    error: SideError | None = None
    detail: str = ""  # the failing error's own words, without envrun's framing
    python: PythonInfo = field(default_factory=PythonInfo)
    env: EnvInfo | None = None
    packages: dict[str, str | None] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # input name -> decoded output
    stored: dict[str, StoredOutput] = field(default_factory=dict)
    changes: tuple[VariantChange, ...] | None = None  # variant sides only
    baseline_path: str | None = None  # baseline sides only
    baseline_created: str | None = None
    failed_input: str | None = None  # the input the side stopped at, when it failed
    failed_column: str | None = None  # the signature column the worker refused there, if any

    def report(self) -> SideReport:
        """The side as the report has it."""
        return SideReport(
            key=self.key,
            label=self.label,
            status=self.status,
            reason=self.reason,
            error=self.error,
            python=self.python,
            env=self.env,
            packages=dict(sorted(self.packages.items())),
            timings={k: round(v, 4) for k, v in self.timings.items()},
            outputs=dict(self.outputs),
            changes=self.changes,
            baseline_path=self.baseline_path,
            baseline_created=self.baseline_created,
        )


def package_rows(sides: list[Side]) -> list[PackageDifference]:
    """Packages whose version differs between any two sides (None: not installed there)."""
    names: set[str] = set()
    for side in sides:
        names.update(canonicalize_name(n) for n in side.packages)
    rows = []
    for name in sorted(names):
        versions: dict[str, str | None] = {}
        for side in sides:
            canon: dict[str, str | None] = {
                canonicalize_name(k): v for k, v in side.packages.items()
            }
            if name in canon:
                versions[side.key] = canon[name]
        if len(set(versions.values())) > 1:
            rows.append(PackageDifference(name, versions, is_critical(name)))
    return rows


def _explain(left: Side, right: Side, rows: list[PackageDifference]) -> list[str]:
    """Facts that can explain a difference between two sides: packages and Python."""
    facts = []
    for row in rows:
        versions = row.versions
        if left.key in versions and right.key in versions:
            lv, rv = versions[left.key] or "not installed", versions[right.key] or "not installed"
            facts.append(f"{row.name} differs: {left.key} {lv}, {right.key} {rv}")
    return facts + _python_differs(left, right)


def _python_differs(left: Side, right: Side) -> list[str]:
    lpy, rpy = left.python.version, right.python.version
    return (
        [f"python differs: {left.key} {lpy}, {right.key} {rpy}"]
        if lpy and rpy and lpy != rpy
        else []
    )


def verdict_of(
    env: Side,
    *,
    sides: list[Side],
    comparisons: list[ComparisonReport],
    rows: list[PackageDifference],
    written: Path | None,
    n_inputs: int,
) -> Verdict:
    """The verdict: status, exit code, a headline naming what was compared, and the findings."""
    by_key = {side.key: side for side in sides}
    not_compared = [
        NotCompared(side.key, side.reason or side.status)
        for side in sides[1:]
        if side.status != "ok" or not side.values
    ]
    ran = [c for c in comparisons if c.status != "skipped"]
    pairs = sorted(
        {f"{c.left} vs {c.right}" for c in ran},
        key=lambda p: [s.key for s in sides].index(p.split()[-1]),
    )
    differing = [c for c in ran if c.status == "differs"]
    findings: list[str] = []
    for left, right in sorted({(c.left, c.right) for c in differing}):
        findings += _explain(by_key[left], by_key[right], rows)
    for left, right in sorted(
        {(c.left, c.right) for c in ran} - {(c.left, c.right) for c in differing}
    ):
        # Reproduced across different Pythons is worth saying: it is part of what was proved.
        findings += _python_differs(by_key[left], by_key[right])
    inputs_text = f"{n_inputs} input{'s' if n_inputs != 1 else ''}"
    status: VerdictStatus
    if env.status != "ok":
        stage = env.error.stage if env.error else None
        code = EXIT_USAGE if stage == "input" else EXIT_MODEL
        status, headline = "failed", f"Failed: the model did not run in its own env ({env.reason})"
    elif differing:
        bad_pairs = sorted({f"{c.left} ≠ {c.right}" for c in differing})
        status, code = "differs", EXIT_CHECK_FAILED
        headline = f"Differs: {', '.join(bad_pairs)} on {len({c.input for c in differing})} of {inputs_text}"
    elif ran:
        status, code = "reproduced", EXIT_OK
        compared_inputs = len({c.input for c in ran})
        if compared_inputs < n_inputs:  # say so when some inputs had nothing to compare with
            inputs_text = f"{compared_inputs} of {inputs_text} compared"
        headline = (
            f"Reproduced: {', '.join(p.replace(' vs ', ' = ') for p in pairs)} ({inputs_text})"
        )
    elif written is not None:
        status, code = "baseline-saved", EXIT_OK
        headline = f"Baseline saved to {written}; nothing else to compare against ({inputs_text})"
    else:
        status, code = "unverified", EXIT_CHECK_FAILED
        others = "; ".join(f"{n.side}: {n.reason}" for n in not_compared)
        why = f" ({others})" if others else " (no other side was asked for)"
        headline = (
            f"Unverified: only the env produced outputs{why}; "
            "compare with a baseline (--baseline FILE, written by --save-baseline)"
        )
    variant = next((s for s in sides if s.key in ("upgraded", "with")), None)
    if variant is not None and variant.status == "failed" and status != "failed":
        # The question asked was "what does this change do?": an env that cannot be built
        # is the answer, and it is not a pass.
        status, code = "differs", EXIT_CHECK_FAILED
        headline = f"Differs: {variant.reason}"
    return Verdict(status, code, headline, tuple(pairs), tuple(not_compared), tuple(findings))
