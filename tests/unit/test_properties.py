"""Property tests: no MLmodel, requirement line or env file shape makes envrun fail with a bug.

Every generated model directory is read and resolved; the only failures allowed are EnvrunError
subclasses (exit 2-4, a message with a fix), never anything that would be exit 70.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envrun.env.conda import conda_to_pep440, parse_conda_env
from envrun.env.sources import resolve_spec
from envrun.errors import EnvrunError
from envrun.model.example import synthetic_input
from envrun.model.mlmodel import read_model

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text as YAML and files can carry it (no lone surrogates), biased toward the characters
# that matter to the parsers.
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("=<>!~,|*;:@[]#/\\.-_ \t'\"0123456789abcxyz")),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=30,
)
NAMES = st.sampled_from(
    ["numpy", "pytorch", "py-xgboost", "scikit-learn", "pip", "python", "libgomp", "_mutex",
     "r-base", "Mlflow", "a.b", "x-", "conda-forge::numpy", "pytorch::pytorch", "setuptools"]
)  # fmt: skip
OPS = st.sampled_from(["", "=", "==", ">=", "<", "!=", "~=", " ", "== ", "=1.2=", "[version="])
VERSIONS = st.sampled_from(["1.2", "1.2.*", "1.2*", "3.8.10", "1.1.1k", "1|2", "*", "", "x"])
SPEC = st.one_of(
    st.builds(lambda n, o, v, b: f"{n}{o}{v}{b}", NAMES, OPS, VERSIONS,
              st.sampled_from(["", " py39_0", "=h123_0", "]", "'"])),
    TEXT,
)  # fmt: skip
REQ_LINE = st.one_of(
    SPEC,
    st.builds(
        lambda n, e, o, v, m, opt: f"{n}{e}{o}{v}{m}{opt}",
        NAMES,
        st.sampled_from(["", "[extra]", "[", "[a,b]"]),
        st.sampled_from(["", "==", "== ", "=", ">=", "@ "]),
        st.sampled_from(["", "1.0", "file:///C:/x.whl", "https://h/x.whl", "./wheel.whl"]),
        st.sampled_from(["", "; python_version < '3.9'", "; bad marker", " #comment"]),
        st.sampled_from(["", " --hash=sha256:00", " \\", " -e .", " --pre"]),
    ),
    st.sampled_from(
        ["-r requirements.txt", "-c c.txt", "-r missing.txt", "-r ../x", "--index-url", "-e .",
         "--find-links ./links", "-f", "--require-hashes", "--no-binary :all:", "${HOME}"]
    ),
)  # fmt: skip
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(), TEXT)
JUNK = st.recursive(
    SCALAR, lambda c: st.lists(c, max_size=3) | st.dictionaries(TEXT, c, max_size=3), max_leaves=6
)

COLUMN = st.fixed_dictionaries(
    {"type": st.sampled_from(["double", "long", "string", "binary", "datetime", "boolean",
                              "array", "object", "map", "tensor", "decimal", 3])},
    optional={"name": st.one_of(TEXT, st.integers()), "required": st.booleans(),
              "items": JUNK, "properties": JUNK, "values": JUNK,
              "tensor-spec": st.fixed_dictionaries({}, optional={
                  "dtype": st.sampled_from(["float32", "int64", "str", "object", "uint8", "x"]),
                  "shape": st.one_of(st.lists(st.integers(-1, 4), max_size=3), JUNK)})},
)  # fmt: skip
SIGNATURE = st.one_of(
    JUNK,
    st.fixed_dictionaries(
        {},
        optional={
            "inputs": st.one_of(st.lists(COLUMN, max_size=4).map(json.dumps), JUNK),
            "params": st.one_of(st.just('[{"name": "a", "type": "double", "default": 1}]'), JUNK),
        },
    ),
)
PYFUNC = st.fixed_dictionaries(
    {"loader_module": st.one_of(st.just("my_loader"), SCALAR)},
    optional={
        "code": st.one_of(st.sampled_from([".", "./", "code", "..", "/abs", "C:\\x", ""]), SCALAR),
        "data": st.one_of(st.sampled_from(["data", "model.pkl", "file:///C:/m"]), SCALAR),
        "env": st.one_of(
            st.sampled_from(["conda.yaml", "missing.yaml"]),
            st.fixed_dictionaries({}, optional={
                "conda": st.sampled_from(["conda.yaml", "gone.yaml", "../x"]),
                "virtualenv": st.sampled_from(["python_env.yaml", "gone.yaml", "/etc/x"])}),
            JUNK,
        ),
        "python_version": st.one_of(st.sampled_from(["3.8.10", "3.8", "3"]), SCALAR),
        "artifacts": JUNK,
        "python_model": st.one_of(st.just("python_model.pkl"), SCALAR),
    },
)  # fmt: skip
MLMODEL = st.one_of(
    st.fixed_dictionaries(
        {"flavors": st.one_of(st.fixed_dictionaries({"python_function": PYFUNC}), JUNK)},
        optional={
            "mlflow_version": SCALAR,
            "signature": SIGNATURE,
            "saved_input_example_info": st.one_of(
                st.fixed_dictionaries({}, optional={"artifact_path": SCALAR,
                                                    "serving_input_path": SCALAR}),
                JUNK),
        },
    ),
    JUNK,
)  # fmt: skip
PYTHON_ENV = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "python": st.one_of(st.sampled_from(["3.8.10", "3.11", "latest"]), SCALAR),
            "build_dependencies": st.one_of(st.lists(REQ_LINE, max_size=3), JUNK),
            "dependencies": st.one_of(st.lists(REQ_LINE, max_size=5), JUNK),
        },
    ),
    JUNK,
)
CONDA_ITEM = st.one_of(
    SPEC,
    st.fixed_dictionaries({"pip": st.one_of(st.lists(REQ_LINE, max_size=3), JUNK)}),
    JUNK,
)
CONDA = st.one_of(
    st.fixed_dictionaries(
        {"dependencies": st.one_of(st.lists(CONDA_ITEM, max_size=6), JUNK)},
        optional={"channels": JUNK, "name": JUNK},
    ),
    JUNK,
)
FILE_TEXT = st.one_of(st.lists(REQ_LINE, max_size=6).map("\n".join), TEXT)


def _dump(value: Any, raw: bool) -> str:
    return str(value) if raw else yaml.safe_dump(value, allow_unicode=True)


def _check_model(root: Path) -> None:
    try:
        model = read_model(root)
    except EnvrunError:
        return
    with contextlib.suppress(EnvrunError):
        resolve_spec(model, strict=False)
    with contextlib.suppress(EnvrunError):
        resolve_spec(model, strict=True)
    with contextlib.suppress(EnvrunError):
        json.dumps(synthetic_input(model), allow_nan=True)


@SETTINGS
@given(
    mlmodel=MLMODEL,
    python_env=st.none() | PYTHON_ENV,
    conda=st.none() | CONDA,
    requirements=st.none() | FILE_TEXT,
    included=st.none() | FILE_TEXT,
    raw=st.booleans(),
)
def test_no_model_directory_makes_envrun_crash(  # noqa: PLR0917 (one argument per file)
    tmp_path: Path,
    mlmodel: Any,
    python_env: Any,
    conda: Any,
    requirements: str | None,
    included: str | None,
    raw: bool,
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        root = Path(tmp)
        (root / "MLmodel").write_text(_dump(mlmodel, raw), encoding="utf-8")
        for name, value in (("python_env.yaml", python_env), ("conda.yaml", conda)):
            if value is not None:
                (root / name).write_text(_dump(value, False), encoding="utf-8")
        if requirements is not None:
            (root / "requirements.txt").write_text(requirements, encoding="utf-8")
        if included is not None:
            (root / "c.txt").write_text(included, encoding="utf-8")
        (root / "code").mkdir()
        _check_model(root)


@SETTINGS
@given(lines=st.lists(REQ_LINE, max_size=8), conda=CONDA)
def test_requirement_lines_and_conda_files_in_a_valid_model(
    tmp_path: Path, lines: list[str], conda: Any
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        root = Path(tmp)
        (root / "MLmodel").write_text(
            "flavors:\n  python_function:\n    loader_module: m\n    python_version: 3.11.7\n",
            encoding="utf-8",
        )
        (root / "python_env.yaml").write_text(
            yaml.safe_dump({"python": "3.11.7", "dependencies": lines}), encoding="utf-8"
        )
        (root / "conda.yaml").write_text(yaml.safe_dump(conda), encoding="utf-8")
        _check_model(root)


@settings(max_examples=300, deadline=None)
@given(spec=st.one_of(TEXT, st.builds(lambda o, v: o + v, OPS, VERSIONS)))
def test_conda_version_translation_never_raises(spec: str) -> None:
    result = conda_to_pep440(spec)
    assert result is None or isinstance(result, str)


@settings(max_examples=300, deadline=None)
@given(data=CONDA)
def test_conda_parsing_raises_only_spec_errors(data: Any) -> None:
    with contextlib.suppress(EnvrunError):
        parse_conda_env(data, name="conda.yaml")
