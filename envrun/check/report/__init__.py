"""Renderings of a check report: terminal, Markdown, HTML and JSON, and the files they go to.

Each renderer takes the typed `CheckReport` (or a report document, read first).
"""

from envrun.check.report.common import ReportLike, as_report, fmt_bytes, fmt_number, fmt_seconds
from envrun.check.report.html import render_html
from envrun.check.report.markdown import render_markdown
from envrun.check.report.terminal import render_terminal
from envrun.check.report.write import append_step_summary, render_json, report_format, write_reports

__all__ = [
    "ReportLike",
    "append_step_summary",
    "as_report",
    "fmt_bytes",
    "fmt_number",
    "fmt_seconds",
    "render_html",
    "render_json",
    "render_markdown",
    "render_terminal",
    "report_format",
    "write_reports",
]
