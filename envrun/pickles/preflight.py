"""Pickle preflight: what a model's pickles import, read without unpickling them, before a build.

This module holds the lookup tables (distributions and their import names, well-known
dependencies, removed stdlib modules, pickle protocols) and turns what ``envrun.pickles.scan``
reads from each pickle into findings: modules the declared environment will not provide.
"""

from __future__ import annotations

import _compat_pickle
import os
import re
import sys
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from envrun.pickles.scan import _PICKLE_SUFFIXES, PickleInfo, _sniff, scan_pickle

if TYPE_CHECKING:
    from envrun.env.spec import EnvSpec
    from envrun.model.mlmodel import ModelInfo

__all__ = [
    "PickleInfo",
    "Preflight",
    "PreflightFinding",
    "modules_provided_by",
    "preflight",
    "preflight_model",
    "scan_pickle",
]


@dataclass(frozen=True)
class PreflightFinding:
    """One problem found before building: what, in which file, for which module, and the fix."""

    severity: str
    file: str
    module: str | None
    message: str
    fix: str


@dataclass(frozen=True)
class Preflight:
    """Every pickle scanned and every finding, most severe first."""

    pickles: tuple[PickleInfo, ...]
    findings: tuple[PreflightFinding, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        pickles = [{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(p).items()}
                   for p in self.pickles]  # fmt: skip
        return {"pickles": pickles, "findings": [asdict(f) for f in self.findings]}


# Distributions whose import names differ from their normalised names; for a module, the first
# distribution listed is the one a fix suggests.
_DIST_MODULES: dict[str, tuple[str, ...]] = {
    "scikit-learn": ("sklearn",), "scikit-image": ("skimage",), "pyyaml": ("yaml", "_yaml"),
    "opencv-python": ("cv2",), "opencv-python-headless": ("cv2",),
    "opencv-contrib-python": ("cv2",), "opencv-contrib-python-headless": ("cv2",),
    "pillow": ("PIL",), "beautifulsoup4": ("bs4",), "python-dateutil": ("dateutil",),
    "protobuf": ("google",), "msgpack-python": ("msgpack",), "attrs": ("attr", "attrs"),
    "pytorch-lightning": ("pytorch_lightning",), "tensorflow": ("tensorflow",),
    "tensorflow-cpu": ("tensorflow",), "tensorflow-gpu": ("tensorflow",),
    "tensorflow-macos": ("tensorflow",), "tensorflow-intel": ("tensorflow",),
    "faiss-cpu": ("faiss",), "faiss-gpu": ("faiss",), "umap-learn": ("umap",),
    "llama-cpp-python": ("llama_cpp",), "torch": ("torch", "functorch", "torchgen"),
    "mlflow": ("mlflow",), "mlflow-skinny": ("mlflow",), "imbalanced-learn": ("imblearn",),
    "scikit-learn-intelex": ("sklearnex", "daal4py"), "scikit-optimize": ("skopt",),
    "pywavelets": ("pywt",), "pyjwt": ("jwt",), "pymupdf": ("fitz", "pymupdf"),
    "pyzmq": ("zmq",), "pycryptodome": ("Crypto",), "grpcio": ("grpc",), "gitpython": ("git",),
    "onnxruntime-gpu": ("onnxruntime",),
    "setuptools": ("setuptools", "pkg_resources", "_distutils_hack", "distutils"),
}  # fmt: skip
# Namespace packages: every "<prefix>-*" distribution installs under the top-level <prefix>.
_NAMESPACES = frozenset("google azure backports zope ruamel jaraco opentelemetry".split())  # noqa: SIM905
# Well-known hard dependencies: in the env, but at whatever version the resolver picks.
_DEPENDS: dict[str, tuple[str, ...]] = {
    "scikit-learn": ("numpy", "scipy", "joblib", "threadpoolctl"), "scipy": ("numpy",),
    "pandas": ("numpy", "python-dateutil", "pytz", "tzdata"), "python-dateutil": ("six",),
    "torch": ("filelock", "typing-extensions", "sympy", "networkx", "jinja2", "fsspec"),
    "sympy": ("mpmath",), "torchvision": ("torch", "numpy", "pillow"),
    "mlflow": ("mlflow-skinny", "numpy", "pandas", "scipy", "scikit-learn", "pyarrow"),
    "mlflow-skinny": ("cloudpickle", "pyyaml", "protobuf", "packaging", "requests", "pydantic"),
    "xgboost": ("numpy", "scipy"), "lightgbm": ("numpy", "scipy"),
    "catboost": ("numpy", "pandas", "scipy"), "skops": ("scikit-learn", "numpy"),
    "statsmodels": ("numpy", "scipy", "pandas", "patsy"), "numba": ("numpy", "llvmlite"),
    "transformers": ("numpy", "huggingface-hub", "tokenizers", "safetensors", "pyyaml", "regex"),
    "sentence-transformers": ("transformers", "torch", "scikit-learn", "scipy"),
    "umap-learn": ("numpy", "scipy", "scikit-learn", "numba", "pynndescent"),
    "imbalanced-learn": ("scikit-learn", "numpy", "scipy", "joblib"),
    "tensorflow": ("numpy", "keras", "protobuf", "h5py"), "keras": ("numpy", "h5py"),
    "pytorch-lightning": ("torch", "torchmetrics"), "prophet": ("numpy", "pandas", "cmdstanpy"),
}  # fmt: skip
# Old-protocol spellings the unpickler renames (fix_imports), and TorchScript's class prefix.
_ALIASES = {**_compat_pickle.IMPORT_MAPPING, "__torch__": "torch"}
_STDLIB_REMOVED = dict.fromkeys("distutils imp asynchat asyncore smtpd".split(), (3, 12))  # noqa: SIM905
_STDLIB_REMOVED.update(dict.fromkeys(
    "aifc audioop cgi cgitb chunk crypt imghdr mailcap msilib nis nntplib ossaudiodev pipes "  # noqa: SIM905
    "sndhdr spwd sunau telnetlib uu xdrlib lib2to3".split(), (3, 13)))  # fmt: skip
_PROTOCOL_PYTHON = {3: (3, 0), 4: (3, 4), 5: (3, 8)}
_SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2, "info": 3}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def modules_provided_by(distribution: str) -> tuple[str, ...]:
    """The top-level import names a distribution installs (known table, else its own name)."""
    name = _canonical(distribution)
    if name in _DIST_MODULES:
        return _DIST_MODULES[name]
    generic, prefix = name.replace("-", "_"), name.split("-", 1)[0]
    return (prefix, generic) if prefix in _NAMESPACES and prefix != name else (generic,)


def _dist_for(module: str) -> str:
    found = (dist for dist, modules in _DIST_MODULES.items() if module in modules)
    return next(found, module.replace("_", "-"))


# --- the preflight -----------------------------------------------------------------------------


@dataclass
class _Context:
    target: tuple[int, int] | None
    python: str | None
    req_file: str
    provided: set[str]  # lowercased top-level modules: code paths and declared distributions
    transitive: dict[str, tuple[str, str]] = field(default_factory=dict)  # module: (dist, by)


def _top(module: str) -> str:
    top = _ALIASES.get(module, module).split(".", 1)[0]
    return _ALIASES.get(top, top).split(".", 1)[0]


def _code_modules(code_dirs: Iterable[Path]) -> set[str]:
    names = set()
    for entry in (e for d in code_dirs if d.is_dir() for e in d.iterdir()):
        stem = entry.name.split(".", 1)[0]
        if stem.isidentifier() and (entry.is_dir() or entry.suffix in (".py", ".pyc", ".so")):
            names.add(stem.lower())
    return names


def _context(
    python: str | None,
    names: Iterable[str],
    req_file: str,
    code: Iterable[Path],
    extra: Iterable[str],
) -> _Context:
    match = re.match(r"^\s*(\d+)\.(\d+)", python or "")
    target = (int(match[1]), int(match[2])) if match else None
    dists = {_canonical(n) for n in names}
    provided = _code_modules(code) | {m.lower() for m in extra}
    provided |= {m.lower() for dist in dists for m in modules_provided_by(dist)}
    ctx = _Context(target, python, req_file, provided)
    todo, seen = [(dep, d) for d in sorted(dists) for dep in _DEPENDS.get(d, ())], set(dists)
    while todo:  # breadth-first, so the message names the nearest declared parent
        dep, parent = todo.pop(0)
        if dep not in seen:
            seen.add(dep)
            ctx.transitive.update((m.lower(), (dep, parent)) for m in modules_provided_by(dep))
            todo.extend((sub, parent) for sub in _DEPENDS.get(dep, ()))
    return ctx


def _module_finding(info: PickleInfo, top: str, ctx: _Context) -> tuple[str, str, str] | None:
    """(severity, message, fix) when the env will not provide `top`; None when it will."""
    file, req = info.path, ctx.req_file
    if top.lower() in ctx.provided:
        return None
    if top == "__main__":
        names = ", ".join(g for g in info.globals if g.startswith("__main__.")) or top
        message = f"{file} needs `{names}`, defined in the script that saved the model"
        return "high", message, "move it into a module under the code paths and save again"
    if top in sys.stdlib_module_names or top in ("builtins", "copyreg"):
        gone = _STDLIB_REMOVED.get(top)
        if not (ctx.target and gone and ctx.target >= gone):
            return None
        message = f"{file} needs module `{top}`, which Python {ctx.python} no longer has"
        return "high", message, f"pin Python below {gone[0]}.{gone[1]}, or add {_dist_for(top)}"
    message = f"{file} needs module `{top}`, which {req} does not declare"
    dep, parent = ctx.transitive.get(top.lower(), ("", ""))
    if dep:
        fix = f"add {dep} to {req}, pinned to the version the model was saved with"
        return "medium", f"{message}; it is likely pulled in by {parent}", fix
    fix = f"add {_dist_for(top)} to {req}, or add the module to the model's code paths"
    return "high", message, fix


def _protocol_finding(info: PickleInfo, ctx: _Context) -> PreflightFinding | None:
    needs = _PROTOCOL_PYTHON.get(info.protocol or 0)
    if needs is None or (ctx.target >= needs if ctx.target else needs < (3, 8)):
        return None
    version, file = f"{needs[0]}.{needs[1]}", info.path
    message = f"{file} uses pickle protocol {info.protocol}, which "
    if ctx.target is None:
        message += f"needs Python >= {version}; the model does not declare its Python version"
        return PreflightFinding("low", file, None, message, "declare python in python_env.yaml")
    message += f"Python {ctx.python} cannot read (needs Python >= {version})"
    lower = (info.protocol or 1) - 1
    fix = f"declare python >= {version}, or save the model again with pickle protocol {lower}"
    return PreflightFinding("high", file, None, message, fix)


def _findings(info: PickleInfo, ctx: _Context, *, claimed: bool) -> list[PreflightFinding]:
    file = info.path
    found = [PreflightFinding("info", file, None, f"{file}: {note}", "") for note in info.notes]
    if info.error:  # a file MLmodel names is surely loaded; a stray *.pkl perhaps not
        severity = "high" if claimed else "medium"
        fix = "restore the file from the run's artifacts, or save the model again"
        return [*found, PreflightFinding(severity, file, None, f"{file} is {info.error}", fix)]
    if protocol := _protocol_finding(info, ctx):
        found.append(protocol)
    for top in sorted({_top(m) for m in info.modules}):
        if problem := _module_finding(info, top, ctx):
            found.append(PreflightFinding(problem[0], file, top, problem[1], problem[2]))
    return found


def _inside(path: Path, real_root: Path) -> bool:
    resolved = path.resolve()
    return resolved == real_root or real_root in resolved.parents


def _model_files(root: Path, named: Iterable[str]) -> dict[str, tuple[Path, bool]]:
    """rel path: (path, claimed); claimed files are named by MLmodel, others match a suffix."""
    real_root, found = root.resolve(), {}
    for rel in ("python_model.pkl", *named):
        pure = PurePosixPath(rel)
        safe = not pure.is_absolute() and ".." not in pure.parts
        if safe and (root / pure).is_file() and _inside(root / pure, real_root):
            found[pure.as_posix()] = (root / pure, True)
    # os.walk does not enter linked directories; linked files must resolve inside the model.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".git"))
        for path in (Path(dirpath) / name for name in sorted(filenames)):
            if path.suffix.lower() in _PICKLE_SUFFIXES and _inside(path, real_root):
                found.setdefault(path.relative_to(root).as_posix(), (path, False))
    return found


def _sniff_file(path: Path) -> str:
    with path.open("rb") as f:
        return _sniff(f.read(8))


def preflight(
    model_dir: Path,
    *,
    python_version: str | None,
    requirement_names: Iterable[str],
    requirements_file: str,
    code_dirs: Iterable[Path],
    named_files: Iterable[str] = (),
    provided_modules: Iterable[str] = (),
) -> Preflight:
    """Scan the model's pickles and report the modules the declared environment will not provide."""
    root = Path(model_dir)
    names, req_file = requirement_names, requirements_file
    ctx = _context(python_version, names, req_file, code_dirs, provided_modules)
    pickles: list[PickleInfo] = []
    findings: list[PreflightFinding] = []
    for _rel, (path, claimed) in sorted(_model_files(root, named_files).items()):
        suffixed = path.suffix.lower() in _PICKLE_SUFFIXES
        if not suffixed and _sniff_file(path) not in ("pickle", "zip"):
            continue  # a named file in another format (JSON, ONNX, a directory's data)
        info = scan_pickle(path, root=root)
        if suffixed or info.modules or info.error:  # not an archive without any pickle in it
            pickles.append(info)
            findings.extend(_findings(info, ctx, claimed=claimed))
    findings.sort(key=lambda f: (_SEVERITY_RANK.get(f.severity, 9), f.file, f.module or ""))
    return Preflight(tuple(pickles), tuple(findings))


def _wheel_modules(path: Path) -> set[str]:
    try:
        with zipfile.ZipFile(path) as wheel:
            tops = {PurePosixPath(n).parts[0] for n in wheel.namelist()}
    except (OSError, zipfile.BadZipFile):
        return set()
    return {t.split(".", 1)[0] for t in tops if not t.endswith((".dist-info", ".data"))}


def preflight_model(model: ModelInfo, spec: EnvSpec) -> Preflight:
    """preflight() with its arguments taken from read_model() and resolve_spec() results."""
    reqs = (*spec.requirements, *spec.build_dependencies)
    # Name the file that holds most requirement lines ("requirements.txt:3" -> requirements.txt).
    files = [re.split(r"[:\[ ]", r.origin, maxsplit=1)[0] for r in spec.requirements]
    default = spec.source if spec.source != "none" else "requirements.txt"
    req_file = Counter(files).most_common(1)[0][0] if files else default
    confs = [c for c in model.flavors.values() if isinstance(c, dict)]
    root = model.path
    code = {model.pyfunc.code, *(c.get("code") for c in confs)}
    code_dirs = [root / c for c in code if isinstance(c, str) and _inside(root / c, root.resolve())]
    local = [Path(r.local_path) for r in reqs if r.local_path and r.local_path.endswith(".whl")]
    return preflight(
        root,
        python_version=spec.python,
        requirement_names=[r.name for r in reqs if r.name],
        requirements_file=req_file,
        code_dirs=code_dirs,
        named_files=[v for c in confs for v in c.values() if isinstance(v, str) and v.strip()],
        provided_modules=[m for wheel in local for m in _wheel_modules(wheel)],
    )
