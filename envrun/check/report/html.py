"""The check report as one self-contained HTML page (inline CSS and SVG, no external assets)."""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from envrun.check.document import SCHEMA, CheckReport, ModelFacts, SideReport, Verdict
from envrun.check.leaves import OutputDiff
from envrun.check.report.common import (
    SIGNATURE_HEAD,
    ReportLike,
    as_report,
    cache_text,
    change_text,
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

_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;
--ok:#1a7f37;--ok-bg:#dafbe1;--bad:#cf222e;--bad-bg:#ffebe9;--warn:#9a6700;--warn-bg:#fff8c5;
--grey:#59636e;--grey-bg:#eff2f5;--close:#0550ae;--close-bg:#ddf4ff}
*{box-sizing:border-box}
body{margin:0;background:#f3f5f7;color:var(--fg);line-height:1.5;font-size:15px;
font-family:-apple-system,BlinkMacSystemFont,"Segoe UI","Noto Sans",Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:32px 28px 48px}
code,.mono{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace;
font-size:.86em}
h1{font-size:1.9rem;line-height:1.2;margin:.1rem 0 .3rem;word-break:break-word}
h2{font-size:1.15rem;margin:0 0 .9rem;padding-bottom:.4rem;border-bottom:1px solid var(--line)}
h3{font-size:.78rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);margin:0 0 .4rem}
h4{font-size:.95rem;margin:1.2rem 0 .5rem}
.eyebrow{font-size:.78rem;letter-spacing:.08em;text-transform:uppercase;color:var(--muted);font-weight:600}
.path{color:var(--muted);word-break:break-all}
.meta{display:flex;flex-wrap:wrap;gap:.35rem 1.4rem;margin:.8rem 0 0;color:var(--muted);font-size:.88rem}
.meta b{color:var(--fg);font-weight:600}.meta span{overflow-wrap:anywhere}
section,.verdict{background:#fff;border:1px solid var(--line);border-radius:10px;padding:20px 24px;margin:18px 0}
.verdict{display:flex;gap:24px;align-items:flex-start;border-left:6px solid var(--c);background:var(--cbg)}
.badge{background:var(--c);color:#fff;font-weight:700;letter-spacing:.06em;font-size:1.35rem;
padding:.55rem 1.1rem;border-radius:8px;white-space:nowrap}
.headline{font-size:1.2rem;font-weight:600;margin:.15rem 0 .2rem}
.exit{color:var(--muted);font-size:.85rem;margin:0 0 .8rem}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:8px 28px}
.cols ul,.findings{margin:0;padding-left:1.1rem}.gap{margin-top:1rem}
.v-reproduced{--c:var(--ok);--cbg:#f4fbf6}.v-differs{--c:var(--bad);--cbg:#fff8f7}
.v-unverified{--c:var(--warn);--cbg:#fffcea}.v-failed,.v-unknown{--c:var(--grey);--cbg:#f8f9fa}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.45rem .7rem;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:.75rem;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);
background:var(--soft);white-space:nowrap}
tbody th{font-weight:600;color:var(--muted);white-space:nowrap;width:1%}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.val{text-align:right;word-break:break-all}
.sides td{min-width:12rem}
.sides thead th{text-transform:none;letter-spacing:0;font-size:.9rem;color:var(--fg)}
.sides thead small{display:block;font-weight:400;color:var(--muted)}
.chip{display:inline-block;font-size:.75rem;font-weight:600;padding:.08rem .55rem;border-radius:999px;
background:var(--grey-bg);color:var(--grey);white-space:nowrap}
.s-ok,.s-equal,.s-reproduced{background:var(--ok-bg);color:var(--ok)}
.s-close{background:var(--close-bg);color:var(--close)}
.s-differs,.s-failed{background:var(--bad-bg);color:var(--bad)}
.s-warning,.s-unverified{background:var(--warn-bg);color:var(--warn)}
.diff{background:#fff4d4}.none{color:var(--muted);font-style:italic}.problem{color:var(--bad)}
tr.critical th{color:var(--bad)}
.tag{font-size:.7rem;font-weight:700;text-transform:uppercase;letter-spacing:.05em;color:var(--bad);
border:1px solid currentColor;border-radius:4px;padding:0 .3rem;margin-left:.4rem}
.comp{border-top:1px solid var(--line);padding-top:1rem;margin-top:1rem}
.comp:first-of-type{border-top:0;padding-top:0;margin-top:0}
.comp-head{display:flex;gap:.7rem;align-items:center;flex-wrap:wrap}.comp-head .title{font-weight:600}
.summary{color:var(--muted);margin:.3rem 0 .8rem}
.detail{display:grid;grid-template-columns:minmax(0,1.25fr) minmax(300px,1fr);gap:16px 28px;align-items:start}
.hist{width:100%;max-width:560px;height:auto}
.hist text{font-size:12.5px;fill:var(--muted)}
.hist .count{fill:var(--fg);font-weight:600}.hist .zero{fill:#afb8c1}
.notes{margin:.4rem 0 0;padding-left:1.1rem;color:var(--muted)}
.warnings{background:var(--warn-bg);border-color:#e7d38f}.warnings ul{margin:0;padding-left:1.1rem}
details summary{cursor:pointer;font-weight:600;padding:.2rem 0}details[open] summary{margin-bottom:.6rem}
footer{color:var(--muted);font-size:.8rem;text-align:center;margin-top:28px;line-height:1.8}
footer code{word-break:break-all}
@media (max-width:760px){main{padding:18px 12px}.verdict{flex-direction:column;gap:12px}
.cols,.detail{grid-template-columns:1fr}h1{font-size:1.5rem}section,.verdict{padding:16px}}
@media print{body{background:#fff;font-size:12px}main{max-width:none;padding:0}
section,.verdict{border-radius:0}.verdict,.comp,tr,svg{break-inside:avoid}.scroll{overflow:visible}}
"""

# Closed <details> do not print; open them first. Without JavaScript they simply stay closed.
_SCRIPT = (
    "<script>addEventListener('beforeprint',function(){"
    "document.querySelectorAll('details').forEach(function(d){d.open=true})})</script>"
)


_SEP = " \u00b7 "
_MARKED = ("Python", "Platform", "Outputs")  # rows where a difference between sides matters
_NONE = '<span class="none">\u2014</span>'


def _e(value: Any) -> str:
    return html.escape(text(value), quote=True)


def _chip(status: Any) -> str:
    s = text(status, "unknown")
    return f'<span class="chip s-{_e(s.lower())}">{_e(s)}</span>'


def _code(value: Any, empty: str = _NONE) -> str:
    return f"<code>{_e(value)}</code>" if text(value) else empty


def _hash(value: Any, length: int = 12) -> str:
    """A short digest whose full value shows on hover (and stays in the JSON report)."""
    if not text(value):
        return ""
    return f'<code title="{_e(value)}">{_e(short_hash(value, length))}</code>'


def render_html(report: ReportLike) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no external assets)."""
    report = as_report(report)
    model, status = report.model, report.verdict.status
    name = Path(model.path or "model").name or "model"
    ids = itertools.count(1)
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>envrun check: {_e(status)} \u00b7 {_e(name)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        _header(model, name),
        _verdict(report.verdict, headline(report)),
        _environments(report),
        _packages(report),
        _outputs(report, ids),
        _inputs(report),
        _warnings(report),
        _installed(report),
        _footer(report),
        f"</main>{_SCRIPT}</body></html>\n",
    ]
    return "\n".join(p for p in parts if p)


def _header(model: ModelFacts, name: str) -> str:
    facts = [
        ("Loader", _code(model.loader_module, empty="")),
        ("Flavors", ", ".join(_e(f) for f in model.flavors)),
        ("MLflow", _e(model.mlflow_version)),
        ("Files", _e(model.files)),
        ("Size", fmt_bytes(model.bytes) if model.bytes is not None else ""),
        ("Digest", _hash(model.digest, 16)),
    ]
    meta = "".join(f"<span>{k} <b>{v}</b></span>" for k, v in facts if v)
    return (
        f'<header><div class="eyebrow">envrun check</div><h1>{_e(name)}</h1>'
        f'<div class="path mono">{_e(model.path)}</div><div class="meta">{meta}</div></header>'
    )


def _verdict(verdict: Verdict, line: str) -> str:
    status = verdict.status
    known = status if status in ("reproduced", "differs", "unverified", "failed") else "unknown"
    known = "reproduced" if status == "loaded" else known  # loading was all that was asked
    compared = "".join(f"<li>{_e(c)}</li>" for c in verdict.compared)
    not_compared = "".join(
        f"<li><b>{_e(n.side)}</b>: {_e(n.reason)}</li>" for n in verdict.not_compared
    )
    findings = "".join(f"<li>{_e(f)}</li>" for f in verdict.findings)
    parts = [
        f'<div class="verdict v-{known}"><div class="badge">{_e(status.upper())}</div><div>',
        f'<p class="headline">{_e(line)}</p>' if line else "",
        f'<p class="exit">exit code {_e(verdict.exit_code)}</p>',
        '<div class="cols"><div><h3>Compared</h3>',
        f"<ul>{compared}</ul>" if compared else '<p class="none">nothing</p>',
        "</div><div><h3>Not compared</h3>",
        f"<ul>{not_compared}</ul>" if not_compared else '<p class="none">none</p>',
        "</div></div>",
        f'<h3 class="gap">Findings</h3><ul class="findings">{findings}</ul>' if findings else "",
        "</div></div>",
    ]
    return "".join(parts)


def _environments(report: CheckReport) -> str:
    cols = report.sides
    if not cols:
        return ""
    facts = [_side_facts(s) for s in cols]
    phases = dict.fromkeys(k for f in facts for k in f if k.endswith(" time"))
    labels = [k for k in facts[0] if not k.endswith(" time")]
    labels[-2:-2] = phases  # timings sit between the identity rows and the outputs
    rows = []
    for label in labels:
        cells = [f.get(label, "") for f in facts]
        if not any(cells):
            continue
        # Shade what differs from the first side: the eye should go to what changed.
        ref = next((c for c in cells if c), "") if label in _MARKED else None
        tds = "".join(
            f"<td{' class=diff' if ref is not None and c and c != ref else ''}>{c or _NONE}</td>"
            for c in cells
        )
        rows.append(f"<tr><th>{label}</th>{tds}</tr>")
    head = "".join(f"<th>{_e(s.key)}<small>{_e(s.label)}</small></th>" for s in cols)
    return (
        '<section><h2>Environments</h2><div class="scroll"><table class="sides"><thead><tr><th></th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _side_facts(side: SideReport) -> dict[str, str]:
    """One side's column of the environments table, as label -> HTML cell."""
    py, env = side.python, side.env
    facts = {
        "Status": _chip(side.status),
        "Problem": _problem(side),
        "Python": _e(python_text(side)),
        "Platform": _e(py.platform),
        "Interpreter": _code(py.executable, empty=""),
        "Installer": _e(installer(side)),
        "Spec": _e(env.spec_source if env else None),
        "Resolved": _e(env.as_of if env else None),
        "Cache": _e(cache_text(side)),
        "Fingerprint": _hash(env.fingerprint if env else None),
        "Env path": _code(env.path if env else None, empty=""),
        "Baseline": _code(side.baseline_path, empty=""),
        "Recorded": _e(side.baseline_created),
    }
    facts.update((f"{k.capitalize()} time", _e(v)) for k, v in timings(side))
    outputs = side.outputs.items()
    facts["Outputs"] = "<br>".join(f"{_e(k)}: <code>{_e(v)}</code>" for k, v in outputs)
    facts["Changes"] = "<br>".join(_e(change_text(c)) for c in side.changes or ())
    return facts


def _problem(side: SideReport) -> str:
    # A skip is a choice (a flag, a missing baseline); only a failure is shown as an error.
    cls = "problem" if side.error or side.status == "failed" else "none"
    return f'<span class="{cls}">{_e(side_problem(side))}</span>' if side_problem(side) else ""


def _table(head: Sequence[str], rows: Sequence[str]) -> str:
    """A scrollable table; head cells are plain text, rows are rendered <tr> elements."""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (
        f'<div class="scroll"><table><thead><tr>{th}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _num(value: Any) -> str:
    return f"<td class=num>{_e(value)}</td>"


def _packages(report: CheckReport) -> str:
    diffs = report.package_differences
    if not diffs:
        return ""
    cols = version_columns(report, diffs)
    rows = []
    for d in diffs:
        versions = d.versions
        ref = next((versions[c] for c in cols if c in versions), None)
        cells = []
        for c in cols:
            if c not in versions:
                cells.append(f"<td>{_NONE}</td>")
            elif versions[c] is None:
                cells.append('<td class="none diff">not installed</td>')
            else:
                cls = " class=diff" if versions[c] != ref else ""
                cells.append(f"<td{cls}><code>{_e(versions[c])}</code></td>")
        tag = '<span class="tag">critical</span>' if d.critical else ""
        row_cls = " class=critical" if d.critical else ""
        rows.append(f"<tr{row_cls}><th>{_e(d.name)}{tag}</th>{''.join(cells)}</tr>")
    return f"<section><h2>Packages that differ</h2>{_table(['Package', *cols], rows)}</section>"


def _outputs(report: CheckReport, ids: Iterator[int]) -> str:
    if not report.comparisons:
        return ""
    tol = tolerance_text(report)
    parts = [
        "<section><h2>Outputs</h2>",
        f'<p class="summary">Tolerance: {_e(tol)}</p>' if tol else "",
    ]
    head = ["Output", "Kind", "Status", "Types", "Differing", "Max abs", "Max rel", "rtol / atol"]
    for comp in report.comparisons:
        title = f"{_e(comp.input)} \u00b7 {_e(comp.left)} vs {_e(comp.right)}"
        summary = strip_status(comp.summary or text(comp.reason), comp.status)
        parts += [
            f'<div class="comp"><div class="comp-head">{_chip(comp.status)}',
            f'<span class="title">{title}</span></div>',
            f'<p class="summary">{_e(summary)}</p>' if summary else "",
        ]
        rows = [
            f"<tr><td>{_code(o.path)}</td><td>{_e(o.kind)}</td>"
            f"<td>{_chip(o.status)}</td><td>{_e(types_text(o))}</td>"
            + _num(f"{o.differing} / {o.total}")
            + _num(fmt_number(o.max_abs))
            + _num(fmt_number(o.max_rel))
            + _num(f"{fmt_number(o.rtol)} / {fmt_number(o.atol)}")
            + "</tr>"
            for o in comp.outputs
        ]
        parts.append(_table(head, rows) if rows else "")
        parts += [_output_detail(o, next(ids)) for o in comp.outputs if o.status != "equal"]
        parts.append("</div>")
    return "".join([*parts, "</section>"])


def _output_detail(o: OutputDiff, uid: int) -> str:
    rows = [
        f"<tr><td><code>{_e(d.position)}</code></td>"
        + "".join(f"<td class=val><code>{_e(v)}</code></td>" for v in (d.left, d.right))
        + "".join(_num(fmt_number(v)) for v in (d.abs_err, d.rel_err))
        + "</tr>"
        for d in o.first
    ]
    head = ["Position", "Left", "Right", "Abs err", "Rel err"]
    first = f"<div><h3>First differences</h3>{_table(head, rows)}</div>" if rows else ""
    chart = _histogram(list(o.histogram), o.path, uid)
    notes = "".join(f"<li>{_e(n)}</li>" for n in o.notes)
    if not (first or chart or notes):
        return ""
    hist = f"<div><h3>Absolute error, elements per bucket</h3>{chart}</div>" if chart else ""
    notes = f'<ul class="notes">{notes}</ul>' if notes else ""
    return f"<h4>{_code(o.path)}</h4><div class=detail>{first}{hist}</div>{notes}"


def _histogram(pairs: list[tuple[str, int]], path: str, uid: int) -> str:
    """A small bar chart of error buckets; bar heights on a log scale, exact counts printed."""
    if not pairs:
        return ""
    slot, plot, top = 60, 96, 22
    width, height = slot * len(pairs), top + plot + 40
    peak = math.log10(max(n for _, n in pairs) + 1) or 1.0
    desc = ", ".join(f"{label}: {n}" for label, n in pairs)
    bars = [f'<line x1="0" y1="{top + plot}" x2="{width}" y2="{top + plot}" stroke="#d1d9e0"/>']
    for i, (label, n) in enumerate(pairs):
        h = round(plot * math.log10(n + 1) / peak, 1) if n else 0
        x = i * slot + slot * 0.15
        colour = "#2da44e" if label == "0" else "#cf222e" if "nan" in label else "#5b8def"
        if h:
            bars.append(
                f'<rect x="{x:.1f}" y="{top + plot - h}" width="{slot * 0.7:.1f}" height="{h}" '
                f'rx="2" fill="{colour}"/>'
            )
        cx = i * slot + slot / 2
        cls = "count" if n else "zero"
        bars.append(
            f'<text class="{cls}" x="{cx}" y="{top + plot - h - 5}" text-anchor="middle">{n}</text>'
        )
        first, rest = _axis_label(label)
        bars.append(f'<text x="{cx}" y="{top + plot + 17}" text-anchor="middle">{_e(first)}</text>')
        if rest:
            bars.append(
                f'<text x="{cx}" y="{top + plot + 32}" text-anchor="middle">{_e(rest)}</text>'
            )
    return (
        f'<svg class="hist" viewBox="0 0 {width} {height}" role="img" aria-labelledby="hist-{uid}">'
        f'<title id="hist-{uid}">Absolute error histogram for '
        f"{_e(path)}: {_e(desc)}</title>{''.join(bars)}</svg>"
    )


def _axis_label(label: str) -> tuple[str, str]:
    """A bucket label on two short lines, so neighbouring labels never overlap."""
    if label == "0":
        return "0", "exact"
    if ".." in label:
        low, _, high = label.partition("..")
        return f"{low}\u2013", high
    first, _, rest = label.replace(">=", "\u2265").partition(" ")
    return first, rest


def _inputs(report: CheckReport) -> str:
    if not report.inputs:
        return ""
    items, rows = [], []
    for inp in report.inputs:
        digest = f" \u00b7 sha256 {_hash(inp.sha256)}" if inp.sha256 else ""
        origin = f"<span class=none>{_e(inp.origin)}</span>"
        items.append(f"<li><code>{_e(inp.name)}</code> {origin}{digest}</li>")
        for f in inp.signature_findings:
            cells = (f.declared, f.json_value, f.json_path, f.in_process)
            rows.append(
                f"<tr><td>{_code(inp.name)}</td><td>{_code(f.column)}</td>"
                + "".join(f"<td>{_e(c)}</td>" for c in cells)
                + f"<td>{_chip(f.severity)}</td><td>{_e(f.message)}</td></tr>"
            )
    head = [*SIGNATURE_HEAD, "Message"]
    table = f"<h4>Signature findings</h4>{_table(head, rows)}" if rows else ""
    return f"<section><h2>Inputs</h2><ul>{''.join(items)}</ul>{table}</section>"


def _warnings(report: CheckReport) -> str:
    items = "".join(f"<li>{_e(w)}</li>" for w in report.warnings)
    return f'<section class="warnings"><h2>Warnings</h2><ul>{items}</ul></section>' if items else ""


def _installed(report: CheckReport) -> str:
    cols, rows = installed_table(report)
    if not rows:
        return ""
    body = [
        f"<tr><th>{_e(n)}</th>"
        + "".join(f"<td>{_code(c)}</td>" if c is not None else f"<td>{_NONE}</td>" for c in cells)
        + "</tr>"
        for n, cells in rows
    ]
    counts = ", ".join(
        f"{k} {sum(1 for _, c in rows if c[i] is not None)}" for i, k in enumerate(cols)
    )
    return (
        f"<section><h2>Installed packages</h2><details><summary>Every package, per side "
        f"({_e(counts)})</summary>{_table(['Package', *cols], body)}</details></section>"
    )


def _footer(report: CheckReport) -> str:
    bits = [
        f"schema <code>{_e(SCHEMA)}</code>",
        f"envrun {_e(report.envrun_version)}" if report.envrun_version else "",
        f"created {_e(report.created)}" if report.created else "",
    ]
    digest = report.model.digest
    digest_line = f"model digest <code>{_e(digest)}</code>" if digest else ""
    return f"<footer>{_SEP.join(b for b in bits if b)}<br>{digest_line}</footer>"
