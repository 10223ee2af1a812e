"""Measure envrun side by side with its baselines; print a Markdown table (see scripts/bench)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "fixtures" / "models"
INPUTS = ROOT / "fixtures" / "inputs"
BIN = Path(sys.executable).parent
ENVRUN = str(BIN / "envrun")

# What a user would write to load and predict by hand, in the model's own env.
BARE = """
import importlib, json, sys
model_dir, input_path = sys.argv[1], sys.argv[2]
sys.path.insert(0, model_dir + "/code")
loader = sys.argv[3]
data = sys.argv[4]
impl = importlib.import_module(loader)._load_pyfunc(model_dir + "/" + data if data else model_dir)
payload = json.load(open(input_path))
if "dataframe_split" in payload:
    import pandas as pd
    split = payload["dataframe_split"]
    x = pd.DataFrame(split["data"], columns=split["columns"])
else:
    import numpy as np
    x = np.asarray(payload.get("inputs", payload.get("instances")), dtype="float32" if "torch" in loader else None)
out = impl.predict(x)
print(json.dumps({"predictions": out.tolist() if hasattr(out, "tolist") else out}))
"""

LOADERS = {  # model: (loader module, data path) as in its MLmodel
    "mlflow_sklearn": ("mlflow.sklearn", ""),
    "numpy_custom": ("numpy_linear", "data"),
    "torch_custom": ("torch_mlp", "data"),
}


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    return time.perf_counter() - start


def median_of(argv: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    return statistics.median(timed(argv, env) for _ in range(repeat))


def interleaved(
    a: list[str], b: list[str], repeat: int, env: dict[str, str]
) -> tuple[float, float]:
    """Median times of a and b, run alternately so machine noise hits both alike."""
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(timed(a, env))
        tb.append(timed(b, env))
    return statistics.median(ta), statistics.median(tb)


def use_lock_row(cache: Path, repeat: int) -> tuple[str, str, str, str]:
    """(g) what a warm env hit pays for holding the env in use and recording its last use."""
    from envrun import api
    from envrun.env.store import read_state
    from envrun.settings import make_settings

    # Its own cache: the cold-build rows (b) must find no env built here.
    settings = make_settings(cache_dir=str(cache / "use-lock"))
    resolution = api.resolve(MODELS / "numpy_custom", settings)
    handle = api.ensure_environment(resolution, settings)  # built here once
    handle.release()

    def once(fn: Callable[[], object]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    runs = max(repeat, 200)
    hit = statistics.median(
        once(lambda: api.ensure_environment(resolution, settings).release()) for _ in range(runs)
    )
    bare = statistics.median(
        once(lambda: read_state(handle.path, resolution.fingerprint)) for _ in range(runs)
    )
    return (
        "(g) warm env hit, numpy_custom: marker + shared use lock + last use, in-process",
        f"{hit * 1e6:.0f} us",
        f"marker check alone {bare * 1e6:.0f} us",
        f"+{(hit - bare) * 1e6:.0f} us per run",
    )


def scan_row(cache: Path, repeat: int) -> tuple[str, str, str, str]:
    """(f) the pickle safety scan of the largest fixture, in-process: cold, and warm from the cache."""
    from envrun.model.mlmodel import model_digest
    from envrun.pickles.safety import scan_model

    def size(model: Path) -> int:
        return sum(p.stat().st_size for p in model.rglob("*") if p.is_file())

    model = max((p for p in MODELS.iterdir() if p.is_dir()), key=size)
    scans = cache / "scan-bench"

    def once(fn: Callable[[], object]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    scan_model(model)  # imports and page cache warm for both sides
    cold = statistics.median(once(lambda: scan_model(model)) for _ in range(repeat))
    digest = statistics.median(once(lambda: model_digest(model)) for _ in range(repeat))
    scan_model(model, cache_root=scans)
    warm = statistics.median(
        once(lambda: scan_model(model, cache_root=scans)) for _ in range(repeat)
    )
    return (
        f"(f) pickle safety scan, {model.name} ({size(model) // 1024} KiB), in-process",
        f"cold {cold * 1000:.1f} ms, warm (cached) {warm * 1000:.1f} ms",
        f"content digest alone {digest * 1000:.1f} ms",
        "",
    )


def as_of_row(cache: Path, env: dict[str, str], repeat: int) -> tuple[str, str, str, str]:
    """(h) what resolving as of the model's day adds to a cold build (uv), against `--as-of now`."""
    model, data_in = MODELS / "mlflow_sklearn", INPUTS / "mlflow_sklearn.json"
    times: dict[str, list[float]] = {"created": [], "now": []}
    for i in range(repeat):
        for as_of, runs in times.items():  # alternating, each build in an empty cache
            fresh = dict(env, ENVRUN_CACHE_DIR=str(cache / f"as-of-{as_of}-{i}"))
            argv = [ENVRUN, "predict", "-q", "--as-of", as_of, str(model), str(data_in)]
            runs.append(timed(argv, fresh))
            shutil.rmtree(cache / f"as-of-{as_of}-{i}", ignore_errors=True)
    created, now = (statistics.median(times[k]) for k in ("created", "now"))
    return (
        "(h) cold build + predict as of the model's day (default), mlflow_sklearn",
        f"{created:.2f} s",
        f"`--as-of now` {now:.2f} s",
        f"{created / now:.2f}x",
    )


def main() -> int:  # noqa: PLR0915 - one table, built in order
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--serve", action="store_true", help="add the serve section")
    parser.add_argument("--only-serve", action="store_true", help="only the serve section")
    parser.add_argument("--serve-workers", type=int, default=2)
    parser.add_argument("--serve-seconds", type=float, default=5.0)
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="envrun-bench-"))
    # The bench venv's bin first on PATH: MLflow looks for `uv` there.
    env = dict(
        os.environ,
        ENVRUN_CACHE_DIR=str(cache),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    rows: list[tuple[str, str, str, str]] = []
    serve_lines: list[str] = []
    try:
        if args.serve or args.only_serve:
            from bench_serve import serve_rows

            # Its own cache: the cold-build rows below must find no env built by this section.
            serve_env = dict(env, ENVRUN_CACHE_DIR=str(cache / "serve"))
            serve_lines = ["", *serve_rows(serve_env, args.serve_workers, args.serve_seconds)]
        if args.only_serve:
            print("\n".join(serve_lines))
            return 0
        rows.append(use_lock_row(cache, args.repeat))
        rows.append(scan_row(cache, args.repeat))
        rows.append(
            (
                "`envrun --version`",
                f"{median_of([ENVRUN, '--version'], args.repeat, env):.3f} s",
                "",
                "target < 0.15 s",
            )
        )
        uv = shutil.which("uv", path=str(BIN)) or "uv"
        for name, (loader, data) in LOADERS.items():
            model, data_in = MODELS / name, INPUTS / f"{name}.json"
            cold = timed([ENVRUN, "predict", "-q", str(model), str(data_in)], env)
            env_dir = subprocess.run(
                [ENVRUN, "env", "path", str(model)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            warm_cmd = [ENVRUN, "predict", "-q", str(model), str(data_in)]
            bare_cmd = [f"{env_dir}/bin/python", "-c", BARE, str(model), str(data_in), loader, data]
            warm, bare = interleaved(warm_cmd, bare_cmd, args.repeat, env)
            rows.append(
                (
                    f"(a) warm predict, {name}",
                    f"{warm:.3f} s",
                    f"bare python {bare:.3f} s",
                    f"**{warm / bare:.2f}x** (target <= 1.15x)",
                )
            )
            # (b) the same requirements with bare uv: venv + install, bytecode compiled as envrun does.
            state = json.loads((Path(env_dir) / ".envrun-state.json").read_text())
            reqs = Path(cache) / f"bare-{name}.txt"
            reqs.write_text("\n".join(r["text"] for r in state["spec"]["requirements"]) + "\n")
            flags = []
            for link in state["index"].get("find_links", []):
                flags += ["--find-links", link]
            bare_env = Path(cache) / f"bare-{name}"
            start = time.perf_counter()
            subprocess.run(
                [uv, "venv", "-q", "--python", state["interpreter"]["path"], str(bare_env)],
                check=True,
            )
            subprocess.run(
                [
                    uv,
                    "pip",
                    "install",
                    "-q",
                    "--python",
                    str(bare_env / "bin" / "python"),
                    "--compile-bytecode",
                    *flags,
                    "-r",
                    str(reqs),
                ],
                check=True,
            )
            bare_build = time.perf_counter() - start
            rows.append(
                (
                    f"(b) cold build + predict, {name}",
                    f"{cold:.2f} s",
                    f"bare uv venv + install {bare_build:.2f} s",
                    f"{cold / bare_build:.2f}x",
                )
            )
        rows.append(as_of_row(cache, env, max(3, args.repeat // 2)))
        # (d) a warm check runs the model twice (env and in-process) and diffs the outputs.
        model, data_in = MODELS / "numpy_custom", INPUTS / "numpy_custom.json"
        check_t, predict_t = interleaved(
            [ENVRUN, "check", "-q", str(model), str(data_in)],
            [ENVRUN, "predict", "-q", str(model), str(data_in)],
            args.repeat,
            env,
        )
        rows.append(
            (
                "(d) warm check (env + host + diff), numpy_custom",
                f"{check_t:.3f} s",
                f"warm predict {predict_t:.3f} s",
                f"{check_t / predict_t:.2f}x",
            )
        )
        # (e) drift without a lock: model files, host, cached env, pickles and the index.
        drift_cmd = [ENVRUN, "drift", "-q", str(MODELS / "mlflow_sklearn")]
        drift_cmd += ["--skip", "lock", "--skip", "moved"]  # both resolve the whole env
        rows.append(
            (
                "(e) drift, mlflow_sklearn (all classes but lock and moved; asks the index)",
                f"{median_of(drift_cmd, args.repeat, env):.2f} s",
                "",
                "",
            )
        )
        if not args.no_mlflow and shutil.which("mlflow", path=str(BIN)):
            model, data_in = MODELS / "mlflow_sklearn", INPUTS / "mlflow_sklearn.json"
            mlflow_cmd = [
                str(BIN / "mlflow"),
                "models",
                "predict",
                "-m",
                str(model),
                "-i",
                str(data_in),
                "-t",
                "json",
                "--env-manager",
                "uv",
            ]
            mlflow_t = statistics.median(
                timed(mlflow_cmd, env) for _ in range(max(1, args.repeat // 2))
            )
            warm = median_of([ENVRUN, "predict", "-q", str(model), str(data_in)], args.repeat, env)
            rows.append(
                (
                    "(c) mlflow_sklearn: `mlflow models predict --env-manager uv`",
                    f"{mlflow_t:.2f} s",
                    f"envrun warm {warm:.2f} s",
                    f"**{mlflow_t / warm:.1f}x faster** (target >= 3x)",
                )
            )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    lines = [
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; medians of {args.repeat} runs.",
        "",
        "| measurement | envrun | baseline | ratio |",
        "| --- | --- | --- | --- |",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        *serve_lines,
    ]
    text = "\n".join(lines)
    print(text)
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
