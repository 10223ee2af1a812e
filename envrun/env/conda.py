"""Read a conda.yaml: its Python, its pip section, and its conda packages as pip requirements.

A conda package becomes a pip requirement under its PyPI name (conda_names.json, generated from
conda-forge's maintained name mapping by scripts/gen_conda_map.py; a name absent from it is the
same on PyPI) with its version spec translated. System libraries and toolchains have no PyPI
counterpart a virtualenv could use: they are ignored, each with the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from envrun.errors import SpecError
from envrun.model.mlmodel import load_yaml

BUILD_TOOLS = ("pip", "setuptools", "wheel")


# Curated, not generated: the source maps Python projects only, so it cannot say which conda
# packages are C libraries, compilers, GPU runtimes or conda's own tooling. Each group says why
# a virtualenv does without it (wheels bundle their native libraries; pip needs no conda).
def _words(*lines: str) -> frozenset[str]:
    return frozenset(" ".join(lines).split())


_SYSTEM = {
    "compiler or build toolchain": _words(
        "binutils c-compiler clang clangxx cmake compilers cxx-compiler fortran-compiler gcc",
        "gfortran gxx llvm llvmdev make meson ninja pkg-config autoconf automake m4 patch swig",
        "sysroot kernel-headers ld_impl_linux-64 ld_impl_linux-aarch64 vc vs2015_runtime",
        "vc14_runtime ucrt msys2-conda-epoch",
    ),
    "system library": _words(
        "openssl ca-certificates zlib xz bzip2 lz4-c zstd snappy tk sqlite readline ncurses",
        "tzdata icu expat pcre pcre2 krb5 curl git gmp mpfr mpc jpeg giflib freetype fontconfig",
        "cairo pango harfbuzz pixman glib dbus gettext qt qt-main ffmpeg x264 lame hdf5 yaml",
        "yaml-cpp c-ares re2 abseil-cpp grpc-cpp arrow-cpp thrift-cpp glog gflags tbb tbb-devel",
        "eigen boost-cpp openjpeg lcms2 lerc graphite2 nspr nss keyutils fribidi pthread-stubs",
        "jasper ocl-icd utf8proc orc s2n",
    ),
    "BLAS or OpenMP runtime": _words(
        "mkl mkl-include mkl-devel mkl-service mkl_fft mkl_random blas blas-devel openblas",
        "intel-openmp llvm-openmp openmp nomkl",
    ),
    "CUDA runtime (pip wheels bring their own CUDA libraries)": _words(
        "cudatoolkit cudatoolkit-dev cudnn nccl cupti magma cpuonly pytorch-mutex",
    ),
    "conda's own tooling": _words(
        "conda conda-build conda-package-handling conda-libmamba-solver mamba python_abi",
    ),
}
_SYSTEM_PREFIXES = {
    "lib": "system library",
    "_": "conda mutex or selector package",
    "cuda-": "CUDA runtime (pip wheels bring their own CUDA libraries)",
    "m2w64-": "compiler or build toolchain",
    "m2-": "compiler or build toolchain",
    "xorg-": "system library",
    "aws-c-": "system library",
    "font-ttf-": "system library",
    "fonts-conda-": "system library",
    "r-": "R package, not a Python one",
    "perl": "Perl, not a Python package",
}
# Compiler activation packages: gcc_linux-64, gxx_osx-arm64, clang_win-64, ...
_PLATFORM_SUFFIX = re.compile(r"_(linux|osx|win)-(64|32|aarch64|arm64|ppc64le|s390x)$")
_NAME = re.compile(r"^\s*([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(.*)$", re.DOTALL)
_OPERATOR_SPACE = re.compile(r"(==|>=|<=|!=|~=|>|<|=)\s+")
_BRACKET_VERSION = re.compile(r"version\s*=\s*(?:(['\"])(.*?)\1|([^,\]\s]+))")
_CLAUSE = re.compile(r"^(==|>=|<=|!=|~=|>|<|=)?\s*(.+)$")
_PEP508_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")


@dataclass(frozen=True)
class PipFromConda:
    """A conda package that becomes a pip requirement."""

    conda: str
    requirement: str
    name: str
    index: int
    renamed: bool
    note: str = ""


@dataclass(frozen=True)
class IgnoredConda:
    """A conda package a virtualenv does without, and why."""

    conda: str
    reason: str


@dataclass(frozen=True)
class CondaEnv:
    """What a conda.yaml declares, split by what envrun does with each part."""

    name: str
    python: str | None
    build: tuple[str, ...]
    pip: tuple[str, ...]
    packages: tuple[PipFromConda, ...]
    ignored: tuple[IgnoredConda, ...]


@dataclass(frozen=True)
class CondaNames:
    """The shipped conda-to-PyPI name table and where it came from."""

    names: dict[str, str]
    lib_python: frozenset[str]
    source: dict[str, Any]


@lru_cache(maxsize=1)
def conda_names() -> CondaNames:
    """Load conda_names.json (shipped package data) once."""
    text = resources.files("envrun.env").joinpath("conda_names.json").read_text("utf-8")
    doc = json.loads(text)
    names = {**doc.get("names", {}), **doc.get("supplement", {})}
    return CondaNames(names, frozenset(doc.get("lib_python", ())), dict(doc.get("source", {})))


def system_reason(name: str) -> str | None:
    """Why a virtualenv does without conda package `name`, or None if it is a Python project."""
    key = name.lower()
    for reason, group in _SYSTEM.items():
        if key in group:
            return reason
    if _PLATFORM_SUFFIX.search(key):
        return "compiler or build toolchain"
    table = conda_names()
    if key in table.names or key in table.lib_python:
        return None
    for prefix, reason in _SYSTEM_PREFIXES.items():
        if key.startswith(prefix):
            return reason
    return None


def pypi_name(conda_name: str) -> str:
    """The PyPI project a conda package of that name provides (canonical form)."""
    key = conda_name.lower()
    return canonicalize_name(conda_names().names.get(key, key))


def conda_to_pep440(spec: str) -> str | None:
    """Translate a conda MatchSpec version (after the name) to a PEP 440 specifier.

    "" means any version; None means the spec has no PEP 440 form (an "|" alternative, a
    version pip cannot parse). Build strings are dropped.
    """
    text = spec.strip()
    bracket = ""
    if "[" in text:
        text, _, bracket = text.partition("[")
        found = _BRACKET_VERSION.search(bracket)
        text = text.strip() or (found.group(2) or found.group(3) if found else "")
    text = _OPERATOR_SPACE.sub(r"\1", text).strip()
    if not text:
        return ""
    fuzzy = False
    if text.startswith("=") and not text.startswith("=="):
        # name=1.2 means 1.2.*; name=1.2=build pins 1.2 exactly (conda env export writes it).
        version, sep, _build = text[1:].partition("=")
        if not re.search(r"[<>!~,|]", version):
            text, fuzzy = version, not sep
    words = text.split()
    if not words:
        return ""
    text = words[0]  # "1.2 py39_0": the build string follows a space
    if "|" in text:
        return None
    clauses = [_clause(c, fuzzy=fuzzy) for c in text.split(",") if c.strip()]
    if any(c is None for c in clauses):
        return None
    result = ",".join(c for c in clauses if c)
    try:
        SpecifierSet(result)
    except InvalidSpecifier:
        return None
    return result


def _clause(text: str, *, fuzzy: bool) -> str | None:
    match = _CLAUSE.match(text.strip())
    if match is None:
        return None
    op, version = match.group(1) or "", match.group(2).strip()
    if version in ("*", ".*"):
        return ""
    star = version.endswith("*")
    base = version.rstrip("*").rstrip(".")
    if not base:
        return None
    # "=1.2", "1.2*" and (after name=) a bare "1.2" are conda's prefix match; "!=1.2*" too.
    prefix = op == "=" or (op in ("", "==", "!=") and star) or (fuzzy and op == "")
    if op in ("", "=", "=="):
        op = "=="
    elif op != "!=":
        prefix = False  # an ordering with a trailing star means the same as without
    return f"{op}{base}{'.*' if prefix else ''}"


def python_version(constraint: str, where: str) -> str | None:
    """One Python version from conda's `python` spec, or None when it names none."""
    spec = conda_to_pep440(constraint)
    if spec == "":
        return None
    match = re.fullmatch(r"==(\d+(?:\.\d+){1,2})(\.\*)?", spec or "")
    if match:
        return match.group(1)
    raise SpecError(
        f"{where}: cannot pick one Python version from the constraint",
        value=f"python{constraint}",
        fix="pin python to a version such as python=3.11.7 (or 3.11)",
    )


def read_conda_yaml(path: Path) -> CondaEnv:
    """Read a conda environment file; raise SpecError for shapes no conda would accept."""
    return parse_conda_env(load_yaml(path, error=SpecError), name=path.name)


def parse_conda_env(data: Any, *, name: str) -> CondaEnv:
    """Split the parsed YAML of a conda environment file (see read_conda_yaml)."""
    if data is not None and not isinstance(data, dict):
        raise SpecError(
            f"{name} is not a mapping",
            value=f"{type(data).__name__}: {repr(data)[:200]}",
            fix="write a conda environment file with name:, channels: and dependencies:",
        )
    deps = (data or {}).get("dependencies")
    if deps is None:
        deps = []
    if not isinstance(deps, list):
        raise SpecError(
            f"{name}: 'dependencies' must be a list",
            value=repr(deps)[:200],
            fix="write dependencies: as a YAML list",
        )
    python: str | None = None
    build: list[str] = []
    pip: list[str] = []
    packages: list[PipFromConda] = []
    ignored: list[IgnoredConda] = []
    for index, item in enumerate(deps):
        if item is None:
            continue  # an empty "- " entry: conda skips it too
        if isinstance(item, dict):
            pip.extend(_pip_section(item, name))
            continue
        if isinstance(item, (list, bool)):
            raise SpecError(
                f"{name}: dependencies[{index}] is not a package spec",
                value=repr(item)[:200],
                fix="write each conda dependency as a string such as numpy=1.26",
            )
        text = str(item).strip()
        spec_text = text.rpartition("::")[2]  # channel::name (a subdir may precede "::")
        match = _NAME.match(spec_text)
        if match is None:
            ignored.append(IgnoredConda(text, "not a conda package spec"))
            continue
        conda_name, rest = match.group(1).lower(), match.group(2)
        if conda_name == "python":
            python = python_version(rest, name)
            continue
        if conda_name in BUILD_TOOLS:
            spec = conda_to_pep440(rest)
            build.append(conda_name + (spec or ""))
            continue
        reason = system_reason(conda_name)
        if reason is not None:
            ignored.append(IgnoredConda(text, reason))
            continue
        if not _PEP508_NAME.match(conda_name):
            ignored.append(IgnoredConda(text, "not a name a PyPI project can have"))
            continue
        packages.append(_to_pip(text, conda_name, rest, index))
    return CondaEnv(name, python, tuple(build), tuple(pip), tuple(packages), tuple(ignored))


def _pip_section(item: dict[Any, Any], name: str) -> list[str]:
    if set(item) != {"pip"}:
        raise SpecError(
            f"{name}: unexpected mapping in dependencies",
            value=repr(item)[:200],
            fix="only a 'pip:' list may appear as a mapping in conda dependencies",
        )
    section = item["pip"]
    if section is None:
        return []  # "- pip:" with nothing under it
    if not isinstance(section, list) or any(isinstance(x, (dict, list)) for x in section):
        raise SpecError(
            f"{name}: 'pip' must be a list of requirement strings",
            value=repr(section)[:200],
            fix="write pip: as a YAML list, one requirement per item",
        )
    return [str(x) for x in section if x is not None]


def _to_pip(text: str, conda_name: str, rest: str, index: int) -> PipFromConda:
    target = pypi_name(conda_name)
    spec = conda_to_pep440(rest)
    note = ""
    if spec is None:
        note = f"its version spec {rest.strip()!r} has no pip form, so any version may install"
        spec = ""
    renamed = target != canonicalize_name(conda_name)
    return PipFromConda(text, target + spec, target, index, renamed, note)
