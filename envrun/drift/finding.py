"""Drift basics shared by every collector: the Finding record and how severe a change is.

Severity is judged from versions alone (bare, ==-pinned or ranges), with serialization-critical
packages and Python itself weighed more heavily; nothing here reads files or the host.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envrun.pickles.critical import CRITICAL, is_critical

__all__ = [
    "CATEGORIES",
    "CRITICAL",
    "SEVERITIES",
    "Finding",
    "Skip",
    "at_or_above",
    "classify",
    "is_critical",
]

SEVERITIES = ("low", "medium", "high")
_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}
CATEGORIES = ("consistency", "host", "installed", "lock", "moved", "availability", "pickle")


class Skip(Exception):
    """A drift class that cannot run for this model; the message says why."""


@dataclass(frozen=True)
class Finding:
    """One disagreement (or, at severity info, one fact) about a model's environment.

    `source` is the file the expectation came from, relative to the model directory; for lock
    findings it is the lock file's path as given.
    """

    model: str
    category: str
    subject: str
    expected: str | None
    actual: str | None
    severity: str
    message: str
    fix: str
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain-data form."""
        return asdict(self)


def _critical(name: str) -> bool:
    return is_critical(name)


def _canon(name: str) -> str:
    return "python" if name == "python" else canonicalize_name(name)


def _parse(text: str) -> Version | SpecifierSet | None:
    """A bare or ==-pinned version, a range (SpecifierSet; "" is any version), or None."""
    t = text.strip()
    if t.startswith("===") or (t.startswith("==") and "*" not in t and "," not in t):
        t = t.lstrip("=").strip()
    try:
        return Version(t)
    except InvalidVersion:
        pass
    try:
        return SpecifierSet(t)
    except InvalidSpecifier:
        return None


def _bump(a: Version, b: Version, *, python: bool) -> tuple[str, str]:
    """Severity and wording of the change from a to b (for Python a minor change is high)."""
    n = min(len(a.release), len(b.release), 3) if python else 3
    ra, rb = (*a.release, 0, 0, 0)[:n], (*b.release, 0, 0, 0)[:n]
    way = "bump" if b > a else "downgrade"
    if python and ra[:2] != rb[:2]:
        return "high", f"different Python {'major' if ra[0] != rb[0] else 'minor'} version"
    if python or a == b:
        return ("info", "same version") if ra == rb else ("low", "patch-level difference")
    if ra[:2] != rb[:2]:
        return ("high", f"major {way}") if ra[0] != rb[0] else ("medium", f"minor {way}")
    if a.public == b.public:
        return "low", f"only the local label differs ({a} vs {b})"
    return "low", f"patch-level {way}"


def _violated_bound(spec: SpecifierSet, version: Version) -> Version | None:
    """The nearest version the violated part of `spec` allows ("<3" allows 2.x at most)."""
    for item in spec:
        if not item.contains(version, prereleases=True):
            try:
                release = list(Version(item.version.removesuffix(".*")).release)
            except InvalidVersion:
                return None
            while item.operator == "<" and len(release) > 1 and release[-1] == 0:
                release.pop()
            if item.operator == "<" and release[-1] > 0:
                release[-1] -= 1
            return Version(".".join(map(str, release)))
    return None


def _assess(name: str, old: str | None, new: str | None) -> tuple[str, str]:  # noqa: PLR0911
    """Severity of the change old -> new, and a few words saying why."""
    canon = _canon(name)
    crit, python = _critical(canon), canon == "python"
    suffix = " of a serialization-critical package" if crit else ""
    if old is None or new is None:
        if old is None and new is None:
            return "info", "declared nowhere"
        what = "added" if old is None else "missing"
        return ("high", f"a serialization-critical package is {what}") if crit else ("medium", what)
    a, b = _parse(old), _parse(new)
    if a is None or b is None:
        same = old.strip() == new.strip()
        return ("info", "same") if same else ("medium", "the versions cannot be compared")
    if isinstance(a, SpecifierSet) and isinstance(b, SpecifierSet):
        if a == b:
            return "info", "same range"
        return ("medium" if crit else "low"), "different version ranges" + suffix
    if isinstance(a, SpecifierSet) or isinstance(b, SpecifierSet):
        spec, version = (a, b) if isinstance(a, SpecifierSet) else (b, a)
        assert isinstance(spec, SpecifierSet) and isinstance(version, Version)
        if spec.contains(version, prereleases=True):
            return "info", f"within the range {spec or 'of any version'}"
        bound = _violated_bound(spec, version)
        sev = "medium" if bound is None else _bump(bound, version, python=python)[0]
        sev = "high" if crit else max(sev, "low", key=_RANK.__getitem__)
        return sev, f"outside the range {spec}" + (
            ", a serialization-critical package" if crit else ""
        )
    # "==2.13.0" is satisfied by 2.13.0+cpu (PEP 440); a bare version names one exact build.
    pinned = old.strip().startswith("==") or new.strip().startswith("==")
    if pinned and a.public == b.public and (a.local is None or b.local is None):
        return "info", "the pin is satisfied"
    sev, words = _bump(a, b, python=python)
    if sev == "info":
        return sev, words
    return ("high" if crit else sev), words + suffix


def classify(name: str, old: str | None, new: str | None) -> str:
    """Severity of a change from `old` to `new` (versions, ==pins or ranges; None = absent)."""
    return _assess(name, old, new)[0]


def at_or_above(severity: str, threshold: str) -> bool:
    """Whether `severity` reaches `threshold` (info < low < medium < high)."""
    for value in (severity, threshold):
        if value not in _RANK:
            raise ValueError(f"unknown severity {value!r}; use one of: {', '.join(_RANK)}")
    return _RANK[severity] >= _RANK[threshold]


def _verb(spec: str) -> str:
    text = spec.strip()
    if text.startswith("@"):
        return f"installs it from {text[1:].strip()}"
    parsed = _parse(text)
    if not text:
        return "lists it without a version"
    return f"pins {parsed}" if isinstance(parsed, Version) else f"requires {text}"
