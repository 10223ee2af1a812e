"""The safety scan: what a model's pickles would import and call when loaded, judged per global.

Nothing is unpickled. Every pickle-based file (pickle, cloudpickle, joblib, torch archives, skops
schemas) is walked by `envrun.pickles.scan`; each global it reaches is classified by
`envrun.pickles.tables`. Results are cached by the model's content digest, so a warm check costs a
directory walk and one small read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envrun.errors import EnvrunError, ModelError, UnsafeModelError
from envrun.fsutil import write_atomic
from envrun.model.mlmodel import load_yaml, model_digest
from envrun.pickles.tables import (
    CODE_BY_VALUE,
    DANGEROUS,
    SAFE,
    UNKNOWN,
    Verdict,
    classify,
    tables_digest,
)

if TYPE_CHECKING:
    from envrun.pickles.scan import GlobalUse

# The walker (scan, preflight) is imported only when a scan has to run: the load gate calls
# scan_model before every load, and a cached answer should cost no imports.

SCHEMA = "envrun.scan/1"
_CACHE_SCHEMA = "envrun.scan-cache/1"
_VERDICT_ORDER = {DANGEROUS: 0, CODE_BY_VALUE: 1, UNKNOWN: 2, SAFE: 3}


@dataclass(frozen=True)
class Finding:
    """One callable a pickle reaches: where, how it is named and called, and the verdict."""

    file: str  # relative to the model directory
    member: str  # archive member ("" for the file itself)
    offset: int | None  # byte of the opcode that names it (None: skops schema entries)
    module: str
    name: str
    how: str
    calls: tuple[str, ...]  # opcodes that call it: REDUCE, BUILD, INST, OBJ, NEWOBJ
    first_call: int | None  # byte of its first call
    count: int  # how many times it is called
    verdict: str  # dangerous | code_by_value | safe | unknown
    category: str | None  # for dangerous ones: process, code, import, filesystem, ...
    reason: str

    @property
    def callable(self) -> str:
        """module.name as the unpickler would look it up."""
        return f"{self.module}.{self.name}" if self.name else self.module

    @property
    def where(self) -> str:
        """File, archive member and byte offset, as one phrase."""
        place = f"{self.file}:{self.member}" if self.member else self.file
        return place if self.offset is None else f"{place} at byte {self.offset}"


@dataclass(frozen=True)
class ScannedFile:
    """One pickle-based file: its protocol, findings, and whether the walk read all of it."""

    path: str
    protocol: int | None
    findings: tuple[Finding, ...]
    error: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SafetyReport:
    """Every pickle-based file of one model and what each would do when loaded."""

    model: str
    digest: str
    files: tuple[ScannedFile, ...]
    cached: bool = False

    @property
    def findings(self) -> tuple[Finding, ...]:
        """All findings, most severe first."""
        every = [f for file in self.files for f in file.findings]
        return tuple(sorted(every, key=lambda f: _VERDICT_ORDER[f.verdict]))

    def of(self, verdict: str) -> tuple[Finding, ...]:
        """The findings with one verdict."""
        return tuple(f for f in self.findings if f.verdict == verdict)

    @property
    def dangerous(self) -> tuple[Finding, ...]:
        """The findings that block loading."""
        return self.of(DANGEROUS)

    @property
    def exit_code(self) -> int:
        """1 when something dangerous was found (the scan verb's finding), else 0."""
        return 1 if self.dangerous else 0

    def to_json(self) -> dict[str, Any]:
        """The per-model part of the `envrun.scan/1` document."""
        counts = {v: len(self.of(v)) for v in _VERDICT_ORDER}
        files = [_file_json(f) for f in self.files]
        return {"model": self.model, "digest": self.digest, "cached": self.cached,
                "verdict": _headline(counts), "counts": counts, "files": files}  # fmt: skip

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SafetyReport:
        """The inverse of to_json(); raises KeyError or TypeError on a foreign document."""
        files = []
        for f in doc["files"]:
            findings = tuple(_finding_from_json(f["path"], x) for x in f["findings"])
            files.append(
                ScannedFile(f["path"], f["protocol"], findings, f["error"], tuple(f["notes"]))
            )
        return cls(doc["model"], doc["digest"], tuple(files), bool(doc.get("cached")))


def _headline(counts: dict[str, int]) -> str:
    if counts[DANGEROUS]:
        return DANGEROUS
    return CODE_BY_VALUE if counts[CODE_BY_VALUE] else "clean"


def _file_json(file: ScannedFile) -> dict[str, Any]:
    findings = []
    for f in file.findings:
        item = {k: v for k, v in asdict(f).items() if k != "file"}
        item.update(callable=f.callable, called=bool(f.calls), calls=list(f.calls))
        findings.append(item)
    return {"path": file.path, "protocol": file.protocol, "error": file.error,
            "notes": list(file.notes), "findings": findings}  # fmt: skip


def _finding_from_json(path: str, item: dict[str, Any]) -> Finding:
    fields = {k: item[k] for k in Finding.__dataclass_fields__ if k != "file"}
    fields["calls"] = tuple(fields["calls"])
    return Finding(file=path, **fields)


# --- one file ----------------------------------------------------------------------------------


def _judge(file: str, uses: Iterable[GlobalUse]) -> list[Finding]:
    """One finding per (member, callable, how), first offset kept, calls merged."""
    merged: dict[tuple[str, str, str, str], Finding] = {}
    for use in uses:
        key = (use.member, use.module, use.name, use.how)
        if (seen := merged.get(key)) is not None:
            opcodes = tuple(sorted({*seen.calls, *use.calls}))
            offsets = [x for x in (seen.first_call, *use.calls.values()) if x is not None]
            first = min(offsets) if offsets else None
            merged[key] = _replace_calls(seen, opcodes, first, seen.count + use.count)
            continue
        calls = use.calls
        verdict = classify(use.module, use.name, use.how)
        if _lookup_passed_as_value(use) and verdict.verdict != DANGEROUS:
            why = "an attribute lookup handed on uncalled: what it reaches is unknown"
            verdict = Verdict(DANGEROUS, "unresolved", why)
        first_call = min(calls.values()) if calls else None
        merged[key] = Finding(file, use.member, use.offset, use.module, use.name, use.how,
                              tuple(sorted(calls)), first_call, use.count, verdict.verdict,
                              verdict.category, verdict.reason)  # fmt: skip
    return list(merged.values())


def _replace_calls(f: Finding, calls: tuple[str, ...], first: int | None, count: int) -> Finding:
    return Finding(f.file, f.member, f.offset, f.module, f.name, f.how, calls, first, count,
                   f.verdict, f.category, f.reason)  # fmt: skip


def _lookup_passed_as_value(use: GlobalUse) -> bool:
    """getattr or attrgetter handed to something else: the scan cannot follow what it reaches."""
    lookups = {("builtins", "getattr"), ("__builtin__", "getattr"), ("operator", "attrgetter"),
               ("_operator", "attrgetter"), ("operator", "methodcaller"),
               ("_operator", "methodcaller")}  # fmt: skip
    return (use.module, use.name) in lookups and "REDUCE" not in use.calls


def scan_file(path: Path, *, root: Path | None = None) -> ScannedFile:
    """Walk one pickle-based file and judge every global it reaches."""
    from envrun.pickles.scan import walk_pickle

    walk = walk_pickle(Path(path), root=root)
    info = walk.info
    findings = _judge(info.path, walk.uses)
    if walk.incomplete:  # what the walk could not read could hold anything
        reason = "; ".join(info.notes) or "the scan stopped early"
        findings.append(Finding(info.path, "", None, "?", "(the rest of the file)", "unread", (),
                                None, 0, DANGEROUS, "unresolved", reason))  # fmt: skip
    findings.sort(key=lambda f: (_VERDICT_ORDER[f.verdict], f.member, f.offset or 0))
    return ScannedFile(info.path, info.protocol, tuple(findings), info.error, info.notes)


# --- the model ---------------------------------------------------------------------------------


def _named_files(root: Path) -> list[str]:
    """Files the MLmodel's flavors name (pickled_model: model.pkl...); none when it is unreadable."""
    try:
        doc = load_yaml(root / "MLmodel")
    except ModelError:
        return []
    flavors = doc.get("flavors") if isinstance(doc, dict) else None
    confs = (
        [c for c in (flavors or {}).values() if isinstance(c, dict)]
        if isinstance(flavors, dict)
        else []
    )
    return [v for c in confs for v in c.values() if isinstance(v, str) and v.strip()]


def _within(path: Path, real_root: Path) -> bool:
    # preflight's twin, kept here so that the cache lookup imports no walker
    resolved = path.resolve()
    return resolved == real_root or real_root in resolved.parents


def _walk_files(root: Path) -> Iterator[tuple[str, Path]]:
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".git"))
        for path in (Path(dirpath) / name for name in sorted(filenames)):
            if not path.name.endswith((".pyc", ".pyo")) and _within(path, real_root):
                yield path.relative_to(root).as_posix(), path


def _candidates(root: Path) -> dict[str, tuple[Path, bool]]:
    """rel: (path, named by MLmodel); files by suffix or MLmodel, and any other that sniffs as one."""
    from envrun.pickles.preflight import _model_files, _sniff_file

    found = dict(_model_files(root, _named_files(root)))
    for rel, path in _walk_files(root):
        if rel not in found and path.is_file() and _sniff_file(path) in ("pickle", "zip"):
            found[rel] = (path, False)
    return found


def _scan_all(root: Path, digest: str) -> SafetyReport:
    from envrun.pickles.scan import _PICKLE_SUFFIXES

    files = []
    for _rel, (path, named) in sorted(_candidates(root).items()):
        scanned = scan_file(path, root=root)
        if path.suffix.lower() in _PICKLE_SUFFIXES:
            files.append(scanned)
            continue
        # Anything else is reported only when it reads as a pickle: MLmodel also names YAML
        # files, and binary weights may start with the PROTO byte. A file MLmodel names is
        # loaded, so a dangerous call before a parse error still runs there.
        dangerous = any(f.verdict == DANGEROUS for f in scanned.findings)
        if scanned.findings and (scanned.error is None or (named and dangerous)):
            files.append(scanned)
    return SafetyReport(str(root), digest, tuple(files))


def _stat_key(root: Path) -> str:
    """Every file's path, size, inode and change times: any edit or replacement changes it."""
    rows = []
    for rel, path in _walk_files(root):
        st = path.stat()
        rows.append((rel, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev))
    return hashlib.sha256(json.dumps([str(root.resolve()), rows]).encode()).hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, doc: Any) -> None:
    # The cache only saves time: a read-only cache root costs a rescan next time.
    with contextlib.suppress(EnvrunError):
        write_atomic(path, json.dumps(doc, sort_keys=True), what="scan cache", make_parents=True)


def scan_model(model_dir: Path, *, cache_root: Path | None = None) -> SafetyReport:
    """Scan every pickle-based file of a model; with `cache_root`, reuse a scan of this content."""
    root = Path(model_dir)
    if not root.is_dir():
        raise ModelError("the model directory does not exist", value=str(root),
                         fix="pass the directory that holds the MLmodel file")  # fmt: skip
    if cache_root is None:
        return _scan_all(root, "sha256:" + model_digest(root).sha256)
    scans, version = Path(cache_root) / "scans", tables_digest()
    index = scans / "index" / f"{_stat_key(root)[:32]}.json"
    known = _read_json(index)
    digest = known.get("digest") if isinstance(known, dict) else None
    if not isinstance(digest, str):
        digest = "sha256:" + model_digest(root).sha256
    entry = scans / f"{digest.removeprefix('sha256:')[:32]}-{version}.json"
    cached = _read_json(entry)
    if isinstance(cached, dict) and cached.get("schema") == _CACHE_SCHEMA:
        try:
            report = SafetyReport.from_json(cached["report"])
        except (KeyError, TypeError, ValueError):
            report = None
        if report is not None and report.digest == digest:
            if known is None:
                _write_json(index, {"digest": digest})
            return SafetyReport(str(root), digest, report.files, cached=True)
    report = _scan_all(root, digest)
    _write_json(entry, {"schema": _CACHE_SCHEMA, "report": report.to_json()})
    _write_json(index, {"digest": digest})
    return report


def refuse_if_dangerous(report: SafetyReport) -> None:
    """Raise UnsafeModelError naming the first dangerous finding; return when there is none."""
    dangerous = report.dangerous
    if not dangerous:
        return
    first = dangerous[0]
    call = f", called by {'/'.join(first.calls)}" if first.calls else ""
    others = len(dangerous) - 1
    more = f" (and {others} more dangerous finding{'s' * (others != 1)})" if others else ""
    raise UnsafeModelError(
        f"refusing to load {report.model}: {first.file} would run {first.callable} "
        f"({first.category}: {first.reason}){more}",
        value=f"{first.callable} in {first.where} ({first.how}{call})",
        fix=f"if you trust where this model comes from, load it with --trust-model "
        f"(trust_model=True in the library); otherwise remove {first.file} from the model",
        findings=dangerous,
    )
