"""The check report document rendered as JSON, Markdown, HTML and the terminal view."""

from __future__ import annotations

from envrun.check.report.html import render_html
from envrun.check.report.markdown import (
    append_step_summary,
    render_json,
    render_markdown,
    report_format,
    write_reports,
)
from envrun.check.report.terminal import render_terminal

__all__ = [
    "append_step_summary",
    "render_html",
    "render_json",
    "render_markdown",
    "render_terminal",
    "report_format",
    "write_reports",
]
