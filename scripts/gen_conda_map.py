#!/usr/bin/env python3
"""Generate envrun/env/conda_names.json: conda package names whose PyPI project is named otherwise.

    python scripts/gen_conda_map.py [--version V | --wheel PATH] [--check]

The source is the PyPI-to-conda-forge name mapping that the conda-forge bot maintains
(regro/cf-graph-countyfair, "grayskull_pypi_mapping"), as shipped inside the conda-pypi wheel
on PyPI (conda_pypi/grayskull_pypi_mapping.json). The wheel is fetched with
`pip download --no-deps`; nothing else is read from the network.

The mapping goes PyPI -> conda; envrun needs the reverse. Only names that differ after PyPI name
normalization are kept (scikit-learn maps to itself and needs no entry), so the file stays small.
A conda name claimed by several PyPI projects (pyqt: pyqt4 and pyqt5) keeps the one for the newest
version range, then the hand-curated ("static") entry, then the shortest name.

SUPPLEMENT lists the few conda-forge outputs the bot's mapping cannot hold, because it records one
conda name per PyPI project and these are second outputs of multi-output feedstocks
(xgboost -> py-xgboost). They are recorded apart in the file, so what came from the source and
what was added here stays visible.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

SOURCE_PACKAGE = "conda-pypi"
SOURCE_VERSION = "0.13.1"
SOURCE_MEMBER = "conda_pypi/grayskull_pypi_mapping.json"
UPSTREAM = "regro/cf-graph-countyfair mappings/pypi/grayskull_pypi_mapping (conda-forge bot)"
OUT = Path(__file__).resolve().parent.parent / "envrun" / "env" / "conda_names.json"

# conda name -> PyPI name, for second outputs of multi-output feedstocks (see the docstring).
SUPPLEMENT = {
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-xgboost-gpu": "xgboost",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-opencv": "opencv-python",
    "tensorflow-base": "tensorflow",
    "py-lightgbm": "lightgbm",
    "py-catboost": "catboost",
}
# A bot entry keyed by a content hash instead of a project name is noise in the source.
_HASH_NAME = re.compile(r"^[0-9a-f]{32,}$")


def fetch_wheel(version: str, dest: Path) -> Path:
    """Download the source wheel with pip (no dependencies) and return its path."""
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    argv += ["-q", "-d", str(dest), f"{SOURCE_PACKAGE}=={version}"]
    subprocess.run(argv, check=True)
    wheels = sorted(dest.glob("conda_pypi-*.whl"))
    if not wheels:
        raise SystemExit(f"pip downloaded no conda_pypi wheel into {dest}")
    return wheels[0]


def _version_key(entry: dict[str, Any]) -> Version:
    try:
        return Version(str(entry.get("delimiter_min") or "0"))
    except InvalidVersion:
        return Version("0")


def reverse_mapping(source: dict[str, dict[str, Any]]) -> dict[str, str]:
    """conda name -> PyPI name, for the names that differ after normalization."""
    identity = {
        canonicalize_name(str(e.get("conda_name", "")))
        for e in source.values()
        if canonicalize_name(str(e.get("conda_name", "")))
        == canonicalize_name(str(e.get("pypi_name", "")))
    }
    candidates: dict[str, list[dict[str, Any]]] = {}
    for entry in source.values():
        pypi, conda = str(entry.get("pypi_name", "")), str(entry.get("conda_name", ""))
        if not pypi or not conda or _HASH_NAME.match(pypi):
            continue
        if canonicalize_name(pypi) == canonicalize_name(conda):
            continue
        # A conda package that is also the PyPI project of its own name keeps that name.
        if canonicalize_name(conda) in identity:
            continue
        candidates.setdefault(conda.lower(), []).append(entry)
    out = {}
    for conda, entries in candidates.items():
        best = min(
            entries,
            key=lambda e: (
                -_version_key(e).release[0] if _version_key(e).release else 0,
                e.get("mapping_source") != "static",
                len(str(e["pypi_name"])),
                str(e["pypi_name"]),
            ),
        )
        out[conda] = canonicalize_name(str(best["pypi_name"]))
    return dict(sorted(out.items()))


def _is_lib(name: Any) -> bool:
    return isinstance(name, str) and name.lower().startswith("lib")


def build(wheel: Path, version: str) -> dict[str, Any]:
    """The document written to conda_names.json."""
    data = wheel.read_bytes()
    with zipfile.ZipFile(wheel) as archive:
        source = json.loads(archive.read(SOURCE_MEMBER))
    names = reverse_mapping(source)
    supplement = {k: v for k, v in sorted(SUPPLEMENT.items()) if k not in names}
    # conda names starting with "lib" are mostly C libraries; these are Python projects.
    lib_python = sorted(
        {str(e["conda_name"]).lower() for e in source.values() if _is_lib(e.get("conda_name"))}
    )
    return {
        "about": "conda package name -> PyPI project name, where they differ; "
        "generated by scripts/gen_conda_map.py, do not edit by hand",
        "source": {
            "package": SOURCE_PACKAGE,
            "version": version,
            "wheel": wheel.name,
            "wheel_sha256": hashlib.sha256(data).hexdigest(),
            "member": SOURCE_MEMBER,
            "upstream": UPSTREAM,
            "entries_read": len(source),
        },
        "names": names,
        "supplement": supplement,
        "lib_python": lib_python,
    }


def render(doc: dict[str, Any]) -> str:
    """Stable text: sorted keys, one entry a line, trailing newline."""
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=SOURCE_VERSION, help="conda-pypi version to read")
    parser.add_argument("--wheel", type=Path, help="a conda-pypi wheel already downloaded")
    parser.add_argument("--check", action="store_true", help="fail if the file would change")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(args.version, Path(tmp))
        version = args.version
        match = re.match(r"conda_pypi-([^-]+)-", wheel.name)
        if args.wheel and match:
            version = match.group(1)
        text = render(build(wheel, version))
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date; run scripts/gen_conda_map.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    doc = json.loads(text)
    print(f"wrote {OUT}: {len(doc['names'])} names, {len(doc['supplement'])} supplemented")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
