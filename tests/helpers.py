"""Small builders shared by the tests: write model directories and env files."""

from __future__ import annotations

import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
MODELS = FIXTURES / "models"
INPUTS = FIXTURES / "inputs"
EXPECTED = FIXTURES / "expected"


def write(path: Path, text: str) -> Path:
    """Write dedented text, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def make_model(
    root: Path,
    *,
    loader: str = "my_loader",
    python_version: str = "3.11.7",
    env: str | None = "mapping",
    code: str | None = "code",
    data: str | None = None,
    extra_pyfunc: str = "",
    extra_top: str = "",
    loader_source: str | None = None,
) -> Path:
    """A minimal custom-flavor model directory as MLflow 2.x/3.x lays it out."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "flavors:",
        "  python_function:",
        f"    loader_module: {loader}",
        f"    python_version: {python_version}",
    ]
    if code:
        lines.append(f"    code: {code}")
    if data:
        lines.append(f"    data: {data}")
    if env == "mapping":
        lines += ["    env:", "      conda: conda.yaml", "      virtualenv: python_env.yaml"]
    elif env is not None:
        lines.append(f"    env: {env}")
    if extra_pyfunc:
        lines += ["    " + line for line in textwrap.dedent(extra_pyfunc).strip().splitlines()]
    lines.append("mlflow_version: 3.17.2")
    if extra_top:
        lines += textwrap.dedent(extra_top).strip().splitlines()
    (root / "MLmodel").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if code and loader_source is not None:
        write(root / code / f"{loader.replace('.', '/')}.py", loader_source)
    return root


def copy_model(name: str, dest: Path) -> Path:
    """A private copy of a bundled fixture model, safe to edit."""
    import shutil

    shutil.copytree(MODELS / name, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def tree_snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under root with its mode, mtime and content hash: proof nothing was written."""
    import hashlib

    snap: dict[str, tuple[int, int, str]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        snap[str(path.relative_to(root))] = (st.st_mode, st.st_mtime_ns, digest)
    return snap


def make_unsafe_model(root: Path, *, python_version: str) -> Path:
    """A model whose python_model.pkl would call os.system("true") if unpickled.

    Its loader never unpickles that file and fails with a clear message, so even a trusted load
    runs nothing dangerous. The pickle is only written (pickle.dumps names the callable).
    """
    import os
    import pickle

    class _CallsSystem:
        def __reduce__(self) -> tuple[object, ...]:
            return os.system, ("true",)

    make_model(
        root,
        env=None,
        python_version=python_version,
        loader_source="""
        def _load_pyfunc(path):
            raise RuntimeError("this test model never unpickles python_model.pkl")
        """,
    )
    (root / "python_model.pkl").write_bytes(pickle.dumps(_CallsSystem(), protocol=4))
    return root
