"""Render the `envrun check` report document as JSON, Markdown (PRs, step summaries) or HTML."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from envrun.errors import InputError, OutputError
from envrun.fsutil import write_atomic

SCHEMA = "envrun.check/1"

_FORMATS = {".json": "json", ".md": "markdown", ".markdown": "markdown"}
_FORMATS.update({".html": "html", ".htm": "html"})
_TIMING_ORDER = ("resolve", "build", "load", "predict", "total")
_DASH = "\u2014"
_OUTPUT_HEAD = ("Output", "Status", "Types", "Differing", "Max abs", "Max rel")
SIGNATURE_HEAD = ("Input", "Column", "Declared", "Value", "Through JSON", "In process", "Severity")
_MAX_CELL = 400  # long tracebacks would swamp a PR table; the JSON report keeps them whole


# -- Tolerant access: the document comes from json.loads, any optional key may be absent or null.


def as_map(value: Any) -> Mapping[str, Any]:
    """The value if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """The value if it is a list, else an empty list."""
    return list(value) if isinstance(value, list | tuple) else []


def text(value: Any, default: str = "") -> str:
    """A display string for a scalar; None becomes the default."""
    if value is None:
        return default
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return fmt_number(value)
    return str(value)


# -- Number and size formatting shared by all renderers.


def fmt_number(value: Any) -> str:
    """A float in 3 significant digits; scientific when tiny or huge; "inf"/None pass through."""
    if value is None:
        return _DASH
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
        return _DASH if value is None else str(value)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"


def fmt_bytes(value: Any) -> str:
    """A byte count in B, KB, MB or GB."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return _DASH
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


def sides(doc: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The (key, side) pairs in the order the document lists them."""
    return [(str(k), as_map(v)) for k, v in as_map(doc.get("sides")).items()]


def headline(doc: Mapping[str, Any]) -> str:
    """The verdict headline without a leading "Status:" that would repeat the badge."""
    verdict = as_map(doc.get("verdict"))
    return strip_status(text(verdict.get("headline")), verdict.get("status"))


def strip_status(line: str, status: Any) -> str:
    """A summary without a leading "status:" that a badge or chip already shows."""
    word = text(status)
    if word and line.lower().startswith(word.lower() + ":"):
        return line[len(word) + 1 :].strip()
    return line


def python_text(side: Mapping[str, Any]) -> str:
    """ "CPython 3.11.7" for a side's interpreter."""
    py = as_map(side.get("python"))
    return " ".join(p for p in (text(py.get("implementation")), text(py.get("version"))) if p)


def installer(side: Mapping[str, Any]) -> str:
    """ "uv 0.13.9 (default)" for an env side, "" when the side has no env."""
    inst = as_map(as_map(side.get("env")).get("installer"))
    if not inst:
        return ""
    name = " ".join(p for p in (text(inst.get("name")), text(inst.get("version"))) if p)
    reason = text(inst.get("reason"))
    return f"{name} ({reason})" if reason else name


def cache_text(side: Mapping[str, Any]) -> str:
    """ "hit, reused" or "miss, built", with the store's reason when it gave one."""
    env = as_map(side.get("env"))
    cache = text(env.get("cache"))
    words = {"hit": "hit, reused", "miss": "miss, built"}.get(cache, cache)
    reason = text(env.get("reason"))
    return f"{words} ({reason})" if words and reason else words


def change_text(change: Any) -> str:
    """One requirement an upgraded or --with env changed: "numpy ==2.2.6 -> 2.4.6"."""
    ch = as_map(change)
    declared = text(ch.get("from"), "not declared")  # None: --with added the package
    return f"{text(ch.get('name'))} {declared} \u2192 {text(ch.get('to'), '?')}"


def timings(side: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The side's timings as (phase, formatted) pairs, known phases first."""
    raw = as_map(side.get("timings"))
    keys = [k for k in _TIMING_ORDER if k in raw] + [k for k in raw if k not in _TIMING_ORDER]
    return [(str(k), fmt_seconds(raw[k])) for k in keys if raw[k] is not None]


def side_problem(side: Mapping[str, Any]) -> str:
    """Why a side is skipped or failed, as one line ("" when it ran)."""
    error = as_map(side.get("error"))
    if error:
        where = text(error.get("stage"))
        kind = text(error.get("type"), "error")
        message = text(error.get("message"))
        return f"{kind}{f' during {where}' if where else ''}: {message}".rstrip(": ")
    return text(side.get("reason"))


def version_columns(doc: Mapping[str, Any], rows: list[Any]) -> list[str]:
    """Side keys that appear in package version maps, in document order, then any others."""
    present = {str(k) for row in rows for k in as_map(as_map(row).get("versions"))}
    keys = [k for k, _ in sides(doc)]
    return [k for k in keys if k in present] + sorted(present - set(keys))


def installed_table(doc: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, list[str | None]]]]:
    """Every package any side lists: (side keys, rows of name and per-side version)."""
    cols = [(k, as_map(s.get("packages"))) for k, s in sides(doc) if as_map(s.get("packages"))]
    names = sorted({str(n) for _, pk in cols for n in pk}, key=str.lower)

    def cell(packages: Mapping[str, Any], name: str) -> str | None:
        if name not in packages:
            return None
        return "not installed" if packages[name] is None else text(packages[name])

    return [k for k, _ in cols], [(n, [cell(pk, n) for _, pk in cols]) for n in names]


def tolerance_text(doc: Mapping[str, Any]) -> str:
    """The tolerance in one line: explicit rtol/atol, or the per-dtype defaults."""
    tol = as_map(doc.get("tolerance"))
    if tol.get("rtol") is not None or tol.get("atol") is not None:
        return f"rtol {fmt_number(tol.get('rtol'))}, atol {fmt_number(tol.get('atol'))}"
    pairs = [(k, as_list(v)) for k, v in as_map(tol.get("defaults")).items()]
    parts = [
        f"{k} rtol {fmt_number(v[0])} atol {fmt_number(v[1])}" for k, v in pairs if len(v) == 2
    ]
    return ("defaults: " + "; ".join(parts)) if parts else ""


def first_diffs(output: Mapping[str, Any], limit: int = 3) -> str:
    """The first differing elements of an output, in one line."""
    items = [as_map(m) for m in as_list(output.get("first"))[:limit]]
    return "; ".join(
        f"{text(m.get('position'))}: {text(m.get('left'))} vs {text(m.get('right'))}" for m in items
    )


# -- Markdown.


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
    out += ["| " + " | ".join(c or _DASH for c in row) + " |" for row in rows]
    return [*out, ""]


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The report as GitHub-flavoured Markdown, for pull requests and step summaries."""
    verdict, model = as_map(doc.get("verdict")), as_map(doc.get("model"))
    status = text(verdict.get("status"), "unknown").upper()
    name = Path(text(model.get("path"), "model")).name or "model"
    out = [f"### envrun check: {_code(name)}", ""]
    line = f"**{status}**"
    if headline(doc):
        line += f" {_DASH} {_md(headline(doc))}"
    if verdict.get("exit_code") is not None:
        line += f" (exit code {_md(verdict.get('exit_code'))})"
    out += [line, ""]
    facts = [
        _code(model.get("path")),
        f"digest {_code(model.get('digest'))}" if model.get("digest") else "",
        f"{model.get('files')} files" if model.get("files") is not None else "",
        fmt_bytes(model.get("bytes")) if model.get("bytes") is not None else "",
        _code(model.get("loader_module")),
        f"MLflow {_md(model.get('mlflow_version'))}" if model.get("mlflow_version") else "",
    ]
    out.append("- **Model** " + " \u00b7 ".join(f for f in facts if f))
    prints = [
        f"{_md(k)} {_code(short_hash(as_map(s.get('env')).get('fingerprint'), 16))}"
        for k, s in sides(doc)
        if as_map(s.get("env")).get("fingerprint")
    ]
    if prints:
        out.append("- **Env fingerprint** " + " · ".join(prints))
    for inp in map(as_map, as_list(doc.get("inputs"))):
        origin = f" ({_md(inp.get('origin'))})" if inp.get("origin") else ""
        digest = f", sha256 {_code(short_hash(inp.get('sha256')))}" if inp.get("sha256") else ""
        out.append(f"- **Input** {_code(inp.get('name'))}{origin}{digest}")
    if tolerance_text(doc):
        out.append(f"- **Tolerance** {_md(tolerance_text(doc))}")
    compared = [_md(c) for c in as_list(verdict.get("compared"))]
    out.append("- **Compared** " + (", ".join(compared) if compared else "nothing"))
    for nc in map(as_map, as_list(verdict.get("not_compared"))):
        out.append(f"- **Not compared** {_md(nc.get('side'))}: {_md(nc.get('reason'))}")
    findings = [f"  - {_md(f)}" for f in as_list(verdict.get("findings"))]
    if findings:
        out += ["- **Findings**", *findings]
    out += ["", *_md_sides(doc), *_md_packages(doc), *_md_comparisons(doc)]
    out += [*_md_signature(doc), *_md_warnings(doc), *_md_installed(doc)]
    return "\n".join(out).rstrip() + "\n"


def _md_sides(doc: Mapping[str, Any]) -> list[str]:
    rows, notes = [], []
    for key, side in sides(doc):
        py, env = as_map(side.get("python")), as_map(side.get("env"))
        facts = [side.get("status"), python_text(side), py.get("platform"), installer(side)]
        facts += [cache_text(side)]
        fp = _code(short_hash(env.get("fingerprint")), cell=True)
        times = _cell(", ".join(f"{k} {v}" for k, v in timings(side)))
        rows.append([f"**{_cell(key)}** {_cell(side.get('label'))}", *map(_cell, facts), fp, times])
        if side_problem(side):
            notes.append(f"- **{_md(key)}** {_md(side.get('status'))}: {_md(side_problem(side))}")
        notes += [
            f"- **{_md(key)}** changed {_md(change_text(ch))}"
            for ch in as_list(side.get("changes"))
        ]
    if not rows:
        return []
    head = ["Side", "Status", "Python", "Platform", "Installer", "Cache", "Fingerprint", "Timings"]
    return ["#### Environments", "", *_table(head, rows), *notes, *([""] if notes else [])]


def _md_packages(doc: Mapping[str, Any]) -> list[str]:
    diffs = [as_map(d) for d in as_list(doc.get("package_differences"))]
    if not diffs:
        return []
    cols = version_columns(doc, diffs)
    rows = []
    for d in diffs:
        versions = as_map(d.get("versions"))
        name = _cell(d.get("name"))
        cells = [_cell(text(versions[c], "not installed")) if c in versions else "" for c in cols]
        rows.append([f"**{name}** (critical)" if d.get("critical") else name, *cells])
    return ["#### Package versions that differ", "", *_table(["Package", *map(_md, cols)], rows)]


def _md_comparisons(doc: Mapping[str, Any]) -> list[str]:
    comps = [as_map(c) for c in as_list(doc.get("comparisons"))]
    if not comps:
        return []
    out = ["#### Outputs", ""]
    for comp in comps:
        pair = f"{_md(comp.get('left'))} vs {_md(comp.get('right'))}"
        line = f"**{pair}** on {_code(comp.get('input'))}: **{_md(text(comp.get('status'), '?'))}**"
        detail = strip_status(text(comp.get("summary") or comp.get("reason")), comp.get("status"))
        out += [f"{line} {_DASH} {_md(detail)}" if detail else line, ""]
        outs = [o for o in map(as_map, as_list(comp.get("outputs"))) if o.get("status") != "equal"]
        rows = []
        for o in outs:
            counts = f"{text(o.get('differing'), '?')} / {text(o.get('total'), '?')}"
            facts = [o.get("status"), _types(o), counts, fmt_number(o.get("max_abs"))]
            facts += [fmt_number(o.get("max_rel")), first_diffs(o)]
            rows.append([_code(o.get("path"), cell=True), *map(_cell, facts)])
        if rows:
            out += _table([*_OUTPUT_HEAD, "First differences"], rows)
        notes = [
            f"- {_code(o.get('path'))} {_md(n)}" for o in outs for n in as_list(o.get("notes"))
        ]
        out += [*notes, *([""] if notes else [])]
    return out


def _types(output: Mapping[str, Any]) -> str:
    left, right = text(output.get("left_type")), text(output.get("right_type"))
    return left if left == right else f"{left} vs {right}"


def _md_signature(doc: Mapping[str, Any]) -> list[str]:
    rows = []
    for inp in map(as_map, as_list(doc.get("inputs"))):
        for f in map(as_map, as_list(inp.get("signature_findings"))):
            keys = ("column", "declared", "json_value", "json_path", "in_process", "severity")
            cells = [_cell(f.get(k)) for k in (*keys, "message")]
            rows.append([_code(inp.get("name"), cell=True), *cells])
    if not rows:
        return []
    return ["#### Signature findings", "", *_table([*SIGNATURE_HEAD, "Message"], rows)]


def _md_warnings(doc: Mapping[str, Any]) -> list[str]:
    warnings = [f"- {_md(w)}" for w in as_list(doc.get("warnings"))]
    return ["#### Warnings", "", *warnings, ""] if warnings else []


def _md_installed(doc: Mapping[str, Any]) -> list[str]:
    cols, rows = installed_table(doc)
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
    for key, side in sides(doc):
        env = as_map(side.get("env"))
        reqs = ", ".join(_code(r) for r in as_list(env.get("requirements")))
        where = [f"env {_code(env.get('path'))}" if env.get("path") else ""]
        where += [f"fingerprint {_code(env.get('fingerprint'))}" if env.get("fingerprint") else ""]
        if any(where):
            src = f" from {_code(env.get('spec_source'))}" if env.get("spec_source") else ""
            out.append(f"- **{_md(key)}** " + ", ".join(w for w in where if w))
            out += [f"  declared{src}: {reqs}"] if reqs else []
    return [*out, "", "</details>", ""]


# -- JSON, files, step summary.


def render_json(doc: Mapping[str, Any]) -> str:
    """The document as indented JSON (no NaN), ending with a newline."""
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


def write_reports(doc: Mapping[str, Any], paths: Sequence[Path]) -> list[Path]:
    """Write the document to each path in the format its suffix names; return the paths."""
    formats = [report_format(p) for p in paths]  # every suffix is checked before any write
    from envrun.check.report.html import render_html  # report_html imports this module's helpers

    renderers = {"json": render_json, "markdown": render_markdown, "html": render_html}
    texts = {fmt: renderers[fmt](doc) for fmt in dict.fromkeys(formats)}
    for path, fmt in zip(paths, formats, strict=True):
        write_atomic(
            Path(path), texts[fmt], what="report file", option="--report", make_parents=True
        )
    return [Path(p) for p in paths]


def append_step_summary(doc: Mapping[str, Any], environ: Mapping[str, str]) -> Path | None:
    """Append the Markdown report to $GITHUB_STEP_SUMMARY when it is set; return that path."""
    target = environ.get("GITHUB_STEP_SUMMARY", "")
    if not target:
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8", newline="\n") as fh:
            fh.write(render_markdown(doc) + "\n")
    except OSError as exc:
        raise OutputError(
            "cannot append to the GitHub step summary",
            value=f"{path}: {exc.strerror or exc}",
            fix="check GITHUB_STEP_SUMMARY names a writable file",
        ) from None
    return path
