"""Drift: where a model's env files, MLmodel, the host and the model's cached env disagree.

The collectors here read files and the host's package metadata only. The ones that need a
resolver, an index or the pickle preflight take those results as plain data, so this module
runs no subprocess and reaches no network.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from importlib import metadata
from pathlib import Path, PurePath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envrun.errors import EnvrunError, SpecError
from envrun.model import ModelInfo, load_yaml, read_model
from envrun.requirements import (
    ParsedRequirements,
    ReqLine,
    parse_requirement_lines,
    parse_requirements_file,
)
from envrun.sources import resolve_spec
from envrun.spec import EnvSpec

SCHEMA = "envrun.drift/1"
SEVERITIES = ("low", "medium", "high")
_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}
CATEGORIES = ("consistency", "host", "installed", "lock", "availability", "pickle")
CRITICAL = frozenset({"cloudpickle", "scikit-learn", "numpy", "pandas", "torch", "mlflow", "skops"})
# MLmodel flavor keys that record the version of the library the model was saved with.
FLAVOR_VERSION_KEYS = {
    "sklearn_version": "scikit-learn",
    "pytorch_version": "torch",
    "cloudpickle_version": "cloudpickle",
    "keras_version": "keras",
    "xgb_version": "xgboost",
    "lgb_version": "lightgbm",
    "catboost_version": "catboost",
    "tensorflow_version": "tensorflow",
    "transformers_version": "transformers",
}
_IN_PROCESS = "loading this model in-process on this host may fail or give different predictions"
_HOST_FIX = (
    "run the model in its own environment (envrun predict) instead of in-process, "
    "or make the host match ({req})"
)
_ENV_FIX = (
    "rebuild the env (envrun predict --rebuild); if it was built from a lock, update the lock"
)


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
    return name in CRITICAL or name == "mlflow-skinny"


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


def _spec_of(line: ReqLine) -> str:
    """What a requirement line declares: "==1.2", ">=1,<2", "" or "@ file-or-url-name"."""
    if line.local_path:
        return "@ " + PurePath(line.local_path).name
    try:
        req = Requirement(line.text)
    except InvalidRequirement:
        return line.text
    return f"@ {PurePath(req.url).name}" if req.url else str(req.specifier)


def _origin_file(origin: str) -> str:
    head = origin.split(" ", 1)[0]  # "python_env.yaml dependencies[0]" or "requirements.txt:3"
    return re.sub(r":\d+$", "", head)


def _packages(parsed: ParsedRequirements) -> dict[str, tuple[str, str]]:
    """canonical name -> (specifier text, file it came from); a constraint pins an unpinned one."""
    out: dict[str, tuple[str, str]] = {}
    for line in parsed.requirements:
        if line.name and not out.get(line.name, ("",))[0]:
            out[line.name] = (_spec_of(line), _origin_file(line.origin))
    for line in parsed.constraints:
        if line.name in out and not out[line.name][0]:
            out[line.name] = (_spec_of(line), _origin_file(line.origin))
    return out


@dataclass(frozen=True)
class _EnvFile:
    name: str
    python: str | None
    packages: dict[str, tuple[str, str]]

    def where(self, package: str) -> str:
        origin = self.packages[package][1] if package in self.packages else self.name
        return origin if origin == self.name else f"{origin} (via {self.name})"


def _yaml(path: Path, name: str) -> tuple[dict[str, Any], list[Any]]:
    data = load_yaml(path, error=SpecError)
    data = {} if data is None else data
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance([] if deps is None else deps, list):
        raise SpecError(f"{name} is not a mapping with a 'dependencies' list", value=str(path))
    return data, deps or []


def _read_env_file(model: ModelInfo, kind: str, path: Path) -> _EnvFile:
    name, root = path.relative_to(model.path).as_posix(), model.path
    if kind == "requirements":
        return _EnvFile(name, None, _packages(parse_requirements_file(Path(name), root=root)))
    data, deps = _yaml(path, name)
    if kind == "virtualenv":
        lines = [str(d) for d in deps]
        python = None if data.get("python") is None else str(data["python"])
    else:  # conda: "python=3.11.7" is a version (prefix), "python>=3.9" a range
        lines, python = [], None
        for item in deps:
            if isinstance(item, dict) and isinstance(item.get("pip"), list):
                lines += [str(x) for x in item["pip"]]
            elif isinstance(item, str) and (m := re.match(r"^python\s*([<>=!~\d].*)?$", item)):
                text = (m.group(1) or "").strip()
                version = text.lstrip("=") if re.match(r"^(==?)?[^=<>!~]", text) else ""
                python = ("==" + version if "*" in version else version) or text or None
    origin = f"{name} {'pip' if kind == 'conda' else 'dependencies'}"
    parsed = parse_requirement_lines(lines, origin=origin, base_dir=path.parent, root=root)
    return _EnvFile(name, python, _packages(parsed))


def _env_files(model: ModelInfo, label: str) -> tuple[list[_EnvFile], list[Finding]]:
    """The model's env files in MLflow's precedence order, and findings for unreadable ones."""
    found: list[_EnvFile] = []
    problems: list[Finding] = []
    envs = model.pyfunc.env_files
    for kind, name in (
        ("virtualenv", envs.get("virtualenv", "python_env.yaml")),
        ("requirements", "requirements.txt"),
        ("conda", envs.get("conda", "conda.yaml")),
    ):
        try:
            path = model.file(name)
            if path is not None:
                found.append(_read_env_file(model, kind, path))
        except EnvrunError as exc:  # a broken env file is a finding, never a crash
            value = f" ({exc.value})" if exc.value and name not in exc.value else ""
            msg = f"{name} cannot be read: {exc.what}{value}"
            fix = exc.fix or f"fix {name} or remove it"
            problems.append(Finding(label, "consistency", name, None, None, "high", msg, fix, name))
    return found, problems


def _flavor_versions(model: ModelInfo) -> Iterator[tuple[str, str, str]]:
    """(package, version, MLmodel key) for every library version MLmodel records."""
    if model.mlflow_version:
        yield "mlflow", model.mlflow_version, "mlflow_version"
    for flavor, conf in sorted(model.flavors.items()):
        for key, package in FLAVOR_VERSION_KEYS.items():
            if isinstance(conf, dict) and conf.get(key) is not None:
                yield package, str(conf[key]), f"{flavor}.{key}"


def consistency_findings(model_dir: Path, label: str) -> list[Finding]:
    """Disagreements between python_env.yaml, requirements.txt, conda.yaml and MLmodel."""
    model = read_model(model_dir)
    files, out = _env_files(model, label)
    make = partial(Finding, label, "consistency")
    # MLmodel records the interpreter the model was saved with: the reference for Python.
    ref_py, ref_src = model.pyfunc.python_version, "MLmodel"
    if ref_py is None:
        ref_py, ref_src = next(((f.python, f.name) for f in files if f.python), (None, ""))
    for env in files:
        if ref_py and env.python and env.name != ref_src:
            sev, why = _assess("python", ref_py, env.python)
            msg = (
                f"python: {ref_src} declares {ref_py} but {env.name} declares {env.python} ({why})"
            )
            fix = f"make {env.name} declare python {ref_py}, as {ref_src} does"
            if sev != "info":
                out.append(make("python", ref_py, env.python, sev, msg, fix, env.name))
    # Packages: every other file against the one envrun installs from (first in precedence).
    for env in files[1:]:
        for name in sorted(set(files[0].packages) | set(env.packages)):
            out.extend(_compare_pins(label, name, files[0], env))
    for package, version, key in _flavor_versions(model):
        out.extend(_compare_flavor(label, model, files, (package, version, key)))
    return out


def _compare_pins(label: str, name: str, ref: _EnvFile, env: _EnvFile) -> list[Finding]:
    old = ref.packages[name][0] if name in ref.packages else None
    new = env.packages[name][0] if name in env.packages else None
    if old == new:
        return []
    sev, why = _assess(name, old, new)
    if old is not None and new is not None:
        said = f"{ref.where(name)} {_verb(old)} but {env.where(name)} {_verb(new)}"
    elif old is not None:
        said = f"{ref.where(name)} {_verb(old)} but {env.name} does not list it"
    else:
        said = f"{env.where(name)} {_verb(new or '')} but {ref.name} does not list it"
    fix = (
        f"declare {name} the same way in {ref.name} and {env.name} "
        "(MLflow's virtualenv and conda env managers read different files)"
    )
    src = env.packages[name][1] if name in env.packages else env.name
    return [Finding(label, "consistency", name, old, new, sev, f"{name}: {said} ({why})", fix, src)]


def _compare_flavor(
    label: str, model: ModelInfo, files: Sequence[_EnvFile], recorded: tuple[str, str, str]
) -> list[Finding]:
    package, version, key = recorded
    make = partial(Finding, label, "consistency")
    names = (package, "mlflow-skinny") if package == "mlflow" else (package,)
    hit = next(((f, n) for n in names for f in files if n in f.packages), None)
    saved = f"MLmodel records {key} {version} (the version the model was saved with)"
    if hit is None:
        # A custom loader needs no mlflow at load time; any other recorded library is needed.
        needed = package != "mlflow" or model.pyfunc.loader_module.startswith("mlflow")
        if not files or not needed:
            return []
        msg = f"{package}: {saved} but no environment file lists {package}"
        fix = f"add {package}=={version} to {files[0].name}"
        sev = classify(package, version, None)
        return [make(package, version, None, sev, msg, fix, files[0].name)]
    env, name = hit
    spec, origin = env.packages[name]
    pinned, saved_v = _parse(spec), _parse(version)
    if isinstance(pinned, Version) and isinstance(saved_v, Version) and pinned == saved_v:
        return []
    if (
        isinstance(pinned, Version)
        and isinstance(saved_v, Version)
        and pinned.public == saved_v.public
    ):
        # torch "2.13.0+cpu" in MLmodel vs torch==2.13.0: equal versions, but the build differs.
        label_ = saved_v.local or pinned.local
        sev, why = "info", f"same version; the pin does not select the +{label_} build variant"
    else:
        sev, why = _assess(package, version, spec)
        if sev == "info":
            why += "; a fresh build may install another version than the model was saved with"
    msg = f"{name}: {saved} but {env.where(name)} {_verb(spec)} ({why})"
    fix = f"pin {name}=={saved_v.public if isinstance(saved_v, Version) else version} in {origin}"
    if sev == "info" and "variant" in why:
        fix = (
            f"if the build variant matters, pin {name}=={version} and add the index that serves it"
        )
    return [make(name, version, spec, sev, msg, fix, origin)]


def _lookup(name: str, versions: Mapping[str, str | None] | None) -> str | None:
    for candidate in (name, "mlflow-skinny") if name == "mlflow" else (name,):
        try:
            found = metadata.version(candidate) if versions is None else versions.get(candidate)
        except metadata.PackageNotFoundError:
            found = None
        if found is not None:
            return found
    return None


def _major_jump(spec: str, have: str) -> bool:
    """A satisfied range that resolved a major version above its lower bound (>=1.2 -> 3.0)."""
    parsed, version = _parse(spec), _parse(have)
    if not isinstance(parsed, SpecifierSet) or not isinstance(version, Version):
        return False
    lows = [Version(s.version) for s in parsed if s.operator in (">=", ">", "~=")]
    return bool(lows) and version.major > max(lows).major


@dataclass(frozen=True)
class _Target:
    """What declared pins are checked against: the host, or one cached env."""

    category: str
    where: str
    inside: str
    versions: Mapping[str, str | None] | None
    python: str | None
    consequence: str
    fix: str


def _against(
    label: str,
    declared: Mapping[str, str],
    python_declared: str | None,
    target: _Target,
    sources: Mapping[str, str] | None,
) -> list[Finding]:
    out: list[Finding] = []
    srcs, make = sources or {}, partial(Finding, label, target.category)
    for raw, spec in sorted(declared.items()):
        name = _canon(raw)
        found = _lookup(name, target.versions)
        local = spec.strip().startswith("@")  # a file or URL: only its presence can be checked
        sev, why = ("info", "") if local and found else _assess(name, spec, found)
        if sev == "info" and found is not None and _major_jump(spec, found):
            sev, why = ("medium" if _critical(name) else "low"), "a major above the lower bound"
        if found is None and target.category == "host":
            # A host without the package (a CI runner with only envrun) cannot load the model
            # in-process, but a host that has another version silently predicts differently:
            # only the latter is high.
            sev = "medium" if _critical(name) else "low"
            why = "only in-process loading on this host needs it"
        got = (
            f"it is not installed {target.inside}"
            if found is None
            else f"{target.where} has {found}"
        )
        msg = f"{name}: {srcs.get(name, 'the model')} {_verb(spec)} but {got} ({why}); "
        fix = target.fix.format(req=f"{name} {spec}" if spec.startswith("@") else name + spec)
        if sev != "info":
            out.append(
                make(name, spec or None, found, sev, msg + target.consequence, fix, srcs.get(name))
            )
    have = target.python
    sev, why = (
        _assess("python", python_declared, have) if python_declared and have else ("info", "")
    )
    if sev != "info":
        said = f"{srcs.get('python', 'the model')} declares {python_declared}"
        msg = f"python: {said} but {target.where} runs {have} ({why}); {target.consequence}"
        fix = target.fix.format(req=f"python {python_declared}")
        out.append(make("python", python_declared, have, sev, msg, fix, srcs.get("python")))
    return out


def host_findings(
    label: str,
    declared: Mapping[str, str],
    python_declared: str | None,
    *,
    host_versions: Mapping[str, str | None] | None = None,
    host_python: str | None = None,
    sources: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Declared pins vs the host envrun runs on: MLflow's mismatch warning, made useful."""
    python = host_python or platform.python_version()
    target = _Target(
        "host", "this host", "on this host", host_versions, python, _IN_PROCESS, _HOST_FIX
    )
    return _against(label, declared, python_declared, target, sources)


def installed_findings(
    label: str,
    declared: Mapping[str, str],
    python_declared: str | None,
    state: Mapping[str, Any] | None,
    env_path: str | None,
    *,
    sources: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Declared pins vs what the model's cached env (its .envrun-state.json) has installed."""
    if state is None:
        msg = "no cached env for this model yet; run envrun predict or envrun env path first"
        fix = "run envrun predict or envrun env path to build the env, then check again"
        return [Finding(label, "installed", "env", None, None, "info", msg, fix)]
    raw, interp = state.get("installed"), state.get("interpreter")
    installed: dict[str, str | None] = {}
    if isinstance(raw, dict):
        installed = {canonicalize_name(str(k)): str(v) for k, v in raw.items()}
    python = str(interp["version"]) if isinstance(interp, dict) and interp.get("version") else None
    where = f"the cached env at {env_path}" if env_path else "the cached env"
    consequence = "the env does not hold what the model declares"
    target = _Target("installed", where, "in " + where, installed, python, consequence, _ENV_FIX)
    return _against(label, declared, python_declared, target, sources)


def lock_findings(
    label: str, lock_path: str, changes: Sequence[tuple[str, str | None, str | None]]
) -> list[Finding]:
    """Packages whose version a fresh resolution today changes compared with the lock."""
    out: list[Finding] = []
    fix = (
        "keep installing from the lock for reproducible builds; to take the change, "
        "re-lock and re-check the model's predictions"
    )
    for raw, locked, fresh in changes:
        name = _canon(raw)
        if locked == fresh:
            continue
        sev, why = _assess(name, locked, fresh)
        if locked is None:
            said = f"a fresh resolution today adds {name} {fresh}, which the lock does not have"
        elif fresh is None:
            said = f"a fresh resolution today no longer includes {name} (locked {locked})"
        else:
            said = f"a fresh resolution today gives {name} {fresh} instead of the locked {locked}"
        msg = f"{said} ({why})"
        out.append(Finding(label, "lock", name, locked, fresh, sev, msg, fix, lock_path))
    return out


def availability_findings(
    label: str, unavailable: Sequence[tuple[str, str, str, str]]
) -> list[Finding]:
    """Pinned versions the configured index does not serve (yanked or missing): always high."""
    out: list[Finding] = []
    for raw, version, reason, detail in unavailable:
        name, pin = _canon(raw), f"=={version}"
        if reason == "yanked":
            said = (
                f"{name}{pin} is yanked on the configured index (reason: {detail or 'none given'})"
            )
            fix = f"read the yank reason, then move {name} to a version that is not yanked"
        else:
            said = f"{name}{pin} is not on the configured index ({detail or 'no such version'})"
            fix = f"fix the pin, or add the index or find-links that serves {name}{pin}"
        msg = said + "; a build would fail or silently take another version"
        actual = "yanked" if reason == "yanked" else None
        out.append(Finding(label, "availability", name, pin, actual, "high", msg, fix))
    return out


def pickle_findings(label: str, preflight_json: Mapping[str, Any]) -> list[Finding]:
    """The pickle preflight's findings (its to_json()) as drift findings about each file."""
    out: list[Finding] = []
    for item in preflight_json.get("findings") or []:
        if isinstance(item, Mapping):
            sev, file, module = str(item.get("severity")), item.get("file"), item.get("module")
            file = str(file) if file else "(unknown file)"
            sev = sev if sev in _RANK else "medium"
            msg, fix = str(item.get("message", "")), str(item.get("fix", ""))
            actual = None if module is None else str(module)
            out.append(Finding(label, "pickle", file, None, actual, sev, msg, fix, file))
    return out


def declared_of(spec: EnvSpec) -> tuple[dict[str, str], dict[str, str]]:
    """From a resolved EnvSpec: name -> specifier text, and name (and "python") -> its file."""
    pins: dict[str, str] = {}
    sources: dict[str, str] = {}
    for line in spec.requirements:
        if line.name and line.name not in pins:
            pins[line.name], sources[line.name] = _spec_of(line), _origin_file(line.origin)
    if spec.python and spec.python_source:
        sources["python"] = spec.python_source.split(" ", 1)[0]
    return pins, sources


@dataclass(frozen=True)
class ModelDrift:
    """The findings for one model, which categories ran, and which were skipped and why."""

    label: str
    path: str
    findings: tuple[Finding, ...]
    checked: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    def failing(self, threshold: str) -> list[Finding]:
        """Findings at or above `threshold`."""
        return [f for f in self.findings if at_or_above(f.severity, threshold)]


@dataclass(frozen=True)
class DriftReport:
    """Drift for one or more models, judged against one severity threshold."""

    models: tuple[ModelDrift, ...]
    threshold: str

    def __post_init__(self) -> None:
        at_or_above("info", self.threshold)  # rejects an unknown threshold early

    def failing(self) -> list[Finding]:
        """Every finding at or above the threshold."""
        return [f for m in self.models for f in m.failing(self.threshold)]

    @property
    def exit_code(self) -> int:
        """1 when any finding reaches the threshold, else 0."""
        return 1 if self.failing() else 0

    def to_json(self) -> dict[str, Any]:
        """The versioned JSON document (schema envrun.drift/1)."""
        counts = dict.fromkeys(("high", "medium", "low", "info"), 0)
        models = []
        for m in self.models:
            for f in m.findings:
                counts[f.severity] += 1
            models.append(
                {
                    "label": m.label,
                    "path": m.path,
                    "checked": list(m.checked),
                    "skipped": [{"category": c, "reason": r} for c, r in m.skipped],
                    "failing": len(m.failing(self.threshold)),
                    "findings": [
                        f.to_json() | {"failing": at_or_above(f.severity, self.threshold)}
                        for f in m.findings
                    ],
                }
            )
        summary = {
            "models": len(self.models),
            "failing": len(self.failing()),
            "failing_models": sum(1 for m in self.models if m.failing(self.threshold)),
            "by_severity": counts,
        }
        return {"schema": SCHEMA, "threshold": self.threshold, "models": models, "summary": summary}


def static_drift(
    model_dir: str | Path,
    label: str | None = None,
    *,
    host: bool = True,
    host_versions: Mapping[str, str | None] | None = None,
    host_python: str | None = None,
) -> ModelDrift:
    """The checks that need no build: consistency of the model's files and, optionally, host."""
    shown = str(model_dir) if label is None else label
    model = read_model(model_dir)
    findings = consistency_findings(model.path, shown)
    checked, skipped = ["consistency"], []
    if host:
        try:
            spec = resolve_spec(model)
        except EnvrunError as exc:
            skipped.append(("host", f"the model's env spec cannot be resolved: {exc.what}"))
        else:
            pins, srcs = declared_of(spec)
            findings += host_findings(
                shown,
                pins,
                spec.python,
                host_versions=host_versions,
                host_python=host_python,
                sources=srcs,
            )
            checked.append("host")
    return ModelDrift(shown, str(model.path), tuple(findings), tuple(checked), tuple(skipped))
