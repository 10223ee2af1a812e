"""Check reports as files: JSON, the format a path's suffix names, the GitHub step summary."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from envrun.check.report.common import ReportLike
from envrun.check.report.html import render_html
from envrun.check.report.markdown import render_markdown
from envrun.errors import InputError, OutputError
from envrun.fsutil import write_atomic

_FORMATS = {".json": "json", ".md": "markdown", ".markdown": "markdown"}
_FORMATS.update({".html": "html", ".htm": "html"})


def render_json(report: ReportLike) -> str:
    """The report document as indented JSON (no NaN), ending with a newline."""
    doc = report if isinstance(report, Mapping) else report.to_json()
    return json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def report_format(path: Path | str) -> str:
    """The report format ("json", "markdown", "html") a path's suffix asks for."""
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise InputError(
            "unknown report format",
            value=str(path),
            fix="name the report file with .json, .md, .markdown, .html or .htm",
        )
    return _FORMATS[suffix]


def write_reports(report: ReportLike, paths: Sequence[Path]) -> list[Path]:
    """Write the report to each path in the format its suffix names; return the paths."""
    formats = [report_format(p) for p in paths]  # every suffix is checked before any write
    renderers = {"json": render_json, "markdown": render_markdown, "html": render_html}
    texts = {fmt: renderers[fmt](report) for fmt in dict.fromkeys(formats)}
    for path, fmt in zip(paths, formats, strict=True):
        write_atomic(
            Path(path), texts[fmt], what="report file", option="--report", make_parents=True
        )
    return [Path(p) for p in paths]


def append_step_summary(report: ReportLike, environ: Mapping[str, str]) -> Path | None:
    """Append the Markdown report to $GITHUB_STEP_SUMMARY when it is set; return that path."""
    target = environ.get("GITHUB_STEP_SUMMARY", "")
    if not target:
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8", newline="\n") as fh:
            fh.write(render_markdown(report) + "\n")
    except OSError as exc:
        raise OutputError(
            "cannot append to the GitHub step summary",
            value=f"{path}: {exc.strerror or exc}",
            fix="check GITHUB_STEP_SUMMARY names a writable file",
        ) from None
    return path
