"""Render a DriftReport: a terminal table, JSON, Markdown, JUnit XML or GitHub Actions commands."""

from __future__ import annotations

import json
import posixpath
import re
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence

from envrun.drift.collectors import DriftReport, Finding, ModelDrift, at_or_above

FORMATS = ("table", "json", "markdown", "junit", "github")
_ORDER = ("high", "medium", "low", "info")
_ANSI = {"high": "\x1b[1;31m", "medium": "\x1b[33m", "low": "\x1b[36m", "info": "\x1b[2m"}
_RESET = "\x1b[0m"
_LEVEL = {"high": "error", "medium": "warning"}  # low and info become notices
# Characters XML 1.0 cannot hold at all (tool output sometimes carries them).
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def render(
    report: DriftReport,
    fmt: str,
    *,
    verbose: bool = False,
    color: bool = False,
    width: int = 100,
) -> str:
    """The report as text in `fmt` (one of FORMATS); no trailing newline."""
    renderers: dict[str, Callable[[DriftReport, bool, bool, int], str]] = {
        "table": _table,
        "json": lambda r, *_: json.dumps(r.to_json(), indent=2, ensure_ascii=False),
        "markdown": _markdown,
        "junit": lambda r, *_: _junit(r),
        "github": lambda r, verbose, *_: _github(r, verbose=verbose),
    }
    if fmt not in renderers:
        raise ValueError(f"unknown drift format {fmt!r}; use one of: {', '.join(FORMATS)}")
    return renderers[fmt](report, verbose, color, width)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _counts(findings: Sequence[Finding]) -> str:
    """ "3 findings: 1 high, 2 medium" """
    counts = Counter(f.severity for f in findings)
    parts = ", ".join(f"{counts[s]} {s}" for s in _ORDER if counts[s])
    return _plural(len(findings), "finding") + (f": {parts}" if parts else "")


def _status(model: ModelDrift, threshold: str) -> str:
    """One line: "ok: DIR (2 checks, 1 finding below high)" or "drift: DIR (...)"."""
    failing = model.failing(threshold)
    below = len(model.findings) - len(failing)
    parts = [_plural(len(model.checked), "check")]
    if failing:
        parts.append(f"{len(failing)} at or above {threshold}")
    if below:
        parts.append(f"{_plural(below, 'finding')} below {threshold}")
    if model.skipped:
        parts.append(f"{len(model.skipped)} skipped")
    return f"{'drift' if failing else 'ok'}: {model.label} ({', '.join(parts)})"


def _summary(report: DriftReport) -> str:
    every = [f for m in report.models for f in m.findings]
    drifting = sum(1 for m in report.models if m.failing(report.threshold))
    return (
        f"{_plural(len(report.models), 'model')}, {drifting} with drift at or above "
        f"{report.threshold} ({_counts(every)})"
    )


def _cell(text: str | None, size: int) -> str:
    value = "-" if text is None or text == "" else text
    return (value if len(value) <= size else value[: size - 1] + "…").ljust(size)


def _table(report: DriftReport, verbose: bool, color: bool, width: int) -> str:
    lines: list[str] = []
    for model in report.models:
        shown = list(model.findings) if verbose else model.failing(report.threshold)
        lines.append(_status(model, report.threshold))
        if shown:
            lines += _rows(shown, color=color, width=width)
        if verbose or shown:
            lines += [f"  skipped {c}: {why}" for c, why in model.skipped]
    if report.failing() or verbose:
        lines.append(_summary(report))
    return "\n".join(lines)


def _rows(findings: Sequence[Finding], *, color: bool, width: int) -> list[str]:
    """An aligned table; the message column takes the rest of `width` and wraps."""
    sizes = [8, 12, min(22, max(7, *(len(f.subject) for f in findings)))]
    sizes += [min(14, max(8, *(len(f.expected or "-") for f in findings)))]
    sizes += [min(14, max(6, *(len(f.actual or "-") for f in findings)))]
    indent = "  " + "".join(" " * (s + 1) for s in sizes)
    room = max(30, width - len(indent))
    head = ("SEVERITY", "CATEGORY", "SUBJECT", "EXPECTED", "ACTUAL")
    out = ["  " + " ".join(_cell(h, s) for h, s in zip(head, sizes, strict=True)) + " MESSAGE"]
    for f in sorted(findings, key=lambda f: _ORDER.index(f.severity)):
        cells = [_cell(v, s) for v, s in zip(_row(f), sizes, strict=True)]
        if color:
            cells[0] = _ANSI.get(f.severity, "") + cells[0] + _RESET
        text = textwrap.wrap(f.message, room) + textwrap.wrap("fix: " + f.fix, room)
        out.append("  " + " ".join(cells) + " " + (text[0] if text else ""))
        out += [indent + line for line in text[1:]]
    return out


def _row(f: Finding) -> tuple[str, str, str, str | None, str | None]:
    return (f.severity, f.category, f.subject, f.expected, f.actual)


def _md(text: str | None, *, code: bool = False) -> str:
    if text is None or text == "":
        return "-"
    safe = text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")
    return f"`{safe.replace('`', '')}`" if code else safe


def _md_table(findings: Sequence[Finding]) -> list[str]:
    out = [
        "| Severity | Category | Subject | Expected | Actual | Message | Fix |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in sorted(findings, key=lambda f: _ORDER.index(f.severity)):
        cells = (
            f"**{f.severity}**",
            f.category,
            _md(f.subject, code=True),
            _md(f.expected, code=True),
            _md(f.actual, code=True),
            _md(f.message),
            _md(f.fix),
        )
        out.append("| " + " | ".join(cells) + " |")
    return out


def _markdown(report: DriftReport, verbose: bool, _color: bool, _width: int) -> str:
    t = report.threshold
    lines = ["## envrun drift", "", f"**{_summary(report)}**", ""]
    for model in report.models:
        failing = model.failing(t)
        below = [f for f in model.findings if not at_or_above(f.severity, t)]
        mark = "❌" if failing else "✅"
        lines += [f"### {mark} `{model.label}`", ""]
        if failing:
            lines += [*_md_table(failing), ""]
        else:
            lines += [f"No drift at or above {t}.", ""]
        if below:
            head = f"{_plural(len(below), 'finding')} below {t}"
            body = _md_table(below)
            lines += (
                [f"#### {head}", "", *body, ""]
                if verbose
                else ["<details>", f"<summary>{head}</summary>", "", *body, "", "</details>", ""]
            )
        checked = ", ".join(model.checked) or "none"
        lines.append(f"Checked: {checked}.")
        lines += [f"Skipped {c}: {_md(why)}." for c, why in model.skipped]
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def _finding_text(f: Finding) -> str:
    return (
        f"[{f.severity}] {f.message}\n"
        f"  expected: {f.expected or '-'}  actual: {f.actual or '-'}"
        f"  source: {f.source or '-'}\n  fix: {f.fix}"
    )


def _xml(text: str) -> str:
    return _XML_BAD.sub("?", text)


def _junit(report: DriftReport) -> str:
    """JUnit XML: a suite per model, a test case per category; failures at/above the threshold."""
    t = report.threshold
    root = ET.Element("testsuites", name="envrun drift")
    totals = Counter[str]()
    for model in report.models:
        skipped = dict(model.skipped)
        seen = [f.category for f in model.findings]
        ran = [c for c in dict.fromkeys([*model.checked, *seen]) if c not in skipped]
        suite = ET.SubElement(root, "testsuite", name=_xml(f"envrun drift: {model.label}"))
        counts = Counter(tests=len(ran) + len(skipped))
        for category in ran:
            case = ET.SubElement(suite, "testcase", classname=_xml(model.label), name=category)
            case.set("time", "0")
            mine = [f for f in model.findings if f.category == category]
            failing = [f for f in mine if at_or_above(f.severity, t)]
            if failing:
                counts["failures"] += 1
                worst = min((f.severity for f in failing), key=_ORDER.index)
                subjects = ", ".join(dict.fromkeys(f.subject for f in failing))
                message = f"{_plural(len(failing), 'finding')} at or above {t}: {subjects}"
                failure = ET.SubElement(case, "failure", message=_xml(message))
                failure.set("type", f"drift.{worst}")
                failure.text = _xml("\n\n".join(_finding_text(f) for f in failing))
            below = [f for f in mine if f not in failing]
            if below:
                out = ET.SubElement(case, "system-out")
                out.text = _xml("\n\n".join(_finding_text(f) for f in below))
        for category, why in model.skipped:
            case = ET.SubElement(suite, "testcase", classname=_xml(model.label), name=category)
            case.set("time", "0")
            ET.SubElement(case, "skipped", message=_xml(why))
            counts["skipped"] += 1
        for key in ("tests", "failures", "skipped"):
            suite.set(key, str(counts[key]))
            totals[key] += counts[key]
        suite.set("errors", "0")
        suite.set("time", "0")
    for key in ("tests", "failures", "skipped"):
        root.set(key, str(totals[key]))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation_file(model: ModelDrift, f: Finding) -> str | None:
    """The file to annotate: model-relative sources joined to the model dir as given."""
    if f.source is None:
        return None
    if f.category == "lock" or posixpath.isabs(f.source):
        return f.source  # a lock path is given relative to the working directory, not the model
    return posixpath.join(model.label.replace("\\", "/"), f.source)


def _github(report: DriftReport, *, verbose: bool) -> str:
    """One workflow command per finding at/above the threshold (all findings with verbose)."""
    lines = []
    for model in report.models:
        for f in model.findings:
            if not (verbose or at_or_above(f.severity, report.threshold)):
                continue
            props = {"file": _annotation_file(model, f)}
            props["title"] = f"envrun drift ({f.severity}, {f.category}): {f.subject}"
            text = ",".join(f"{k}={_escape_property(v)}" for k, v in props.items() if v)
            data = _escape_data(f"{model.label}: {f.message}. Fix: {f.fix}")
            lines.append(f"::{_LEVEL.get(f.severity, 'notice')} {text}::{data}")
    return "\n".join(lines)
