"""Locks made by real uv and pip-compile from local wheels and local indexes, then built."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import platform
import shutil
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from envrun import api
from envrun.env.interpreters import find_interpreter
from envrun.env.lock import (
    Lock,
    check_available,
    compile_lock,
    read_lock,
    spec_from_lock,
    write_lock,
)
from envrun.env.requirements import IndexOptions
from envrun.env.spec import fingerprint
from envrun.env.store import EnvHandle
from envrun.errors import ResolutionError
from envrun.settings import Settings, make_settings
from tests.helpers import FIXTURES, make_model, write

pytestmark = pytest.mark.integration

WHEELS = FIXTURES / "wheels"
FIXTURE_WHEEL = "envrun_fixture_pkg-1.0.0-py3-none-any.whl"
PROBE = {v: f"envrun_probe_pkg-{v}-py3-none-any.whl" for v in ("1.0.0", "2.0.0")}
INSTALLERS = pytest.mark.parametrize("installer", ["uv", "pip"])
# What a fresh env holds besides the requirements (virtualenv seeds pip and setuptools).
SEEDED = {"pip", "setuptools", "wheel"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _settings(cache: Path, installer: str) -> Settings:
    # The machine's pip.conf and PIP_FIND_LINKS point at local mirrors: keep them out.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "ENVRUN_"))}
    environ["PIP_CONFIG_FILE"] = os.devnull
    return make_settings(cache_dir=str(cache), installer=installer, environ=environ)


def _model(root: Path, requirements: str) -> Path:
    make_model(root, python_version=platform.python_version(), env=None, code=None)
    write(root / "requirements.txt", requirements)
    return root


def _lock(model: Path, settings: Settings, **kw: str) -> tuple[api.Resolution, Lock]:
    res = api.resolve(model, settings)
    uv = settings.installer.value == "uv"
    lock = compile_lock(
        res.spec,
        interpreter=res.interpreter,
        installer=settings.installer.value,
        # As api.ensure_environment: pip reads the user's pip configuration itself.
        index=res.index if uv else res.spec.index,
        extra_constraints=[p for p, _ in res.config_constraints] if uv else [],
        settings=settings,
        fingerprint=res.fingerprint,
        model_path=str(res.model.path),
        **kw,
    )
    return res, lock


def _build_locked(res: api.Resolution, lock_path: Path, settings: Settings) -> EnvHandle:
    spec = spec_from_lock(read_lock(lock_path), lock_path, res.spec, model_dir=res.model.path)
    fp = fingerprint(
        spec,
        interpreter=res.interpreter,
        installer=res.installer.value,
        installer_version=res.installer_version,
        index=res.index,
    )
    return api.ensure_environment(replace(res, spec=spec, fingerprint=fp), settings)


def _make_wheel(directory: Path, name: str, version: str) -> Path:
    """A minimal, valid pure-Python wheel."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{name.replace('-', '_')}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={encoded},{len(text.encode())}")
    files[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    path = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name_in_zip, text in files.items():
            archive.writestr(name_in_zip, text)
    return path


@pytest.fixture
def links(tmp_path: Path) -> Path:
    """A find-links directory with both releases of the probe package."""
    directory = tmp_path / "links"
    directory.mkdir()
    for filename in PROBE.values():
        shutil.copy(WHEELS / filename, directory / filename)
    return directory


@INSTALLERS
def test_lock_pins_everything_with_hashes_and_builds_exactly_that(
    tmp_path: Path, links: Path, shared_cache: Path, installer: str
) -> None:
    model = _model(tmp_path / "model", f"--no-index\n--find-links {links}\n")
    (model / "wheels").mkdir()
    shutil.copy(WHEELS / FIXTURE_WHEEL, model / "wheels" / FIXTURE_WHEEL)
    with (model / "requirements.txt").open("a") as fh:
        fh.write(f"./wheels/{FIXTURE_WHEEL}\nenvrun-probe-pkg\n")
    settings = _settings(shared_cache, installer)

    res, lock = _lock(model, settings)

    assert lock.pins == {"envrun-fixture-pkg": "1.0.0", "envrun-probe-pkg": "2.0.0"}
    assert lock.hashes == {
        "envrun-fixture-pkg": (f"sha256:{_sha256(WHEELS / FIXTURE_WHEEL)}",),
        "envrun-probe-pkg": (f"sha256:{_sha256(links / PROBE['2.0.0'])}",),
    }
    # The local wheel is written relative to the model, so the lock moves with it.
    assert lock.direct == {"envrun-fixture-pkg": f"./wheels/{FIXTURE_WHEEL}"}
    assert str(tmp_path) not in lock.text.split("# envrun-lock:")[1].split("\n", 1)[1]
    assert lock.header["installer"] == installer
    assert lock.header["python"] == res.interpreter.version
    assert lock.header["fingerprint"] == res.fingerprint
    assert lock.header["index"]["find_links"] == [str(links)]
    lock_path = model / "model.lock"
    write_lock(lock, lock_path)
    assert read_lock(lock_path) == lock

    env = _build_locked(res, lock_path, settings)
    installed = env.state["installed"]
    assert {n: installed[n] for n in lock.pins} == lock.pins
    assert set(installed) - SEEDED == set(lock.pins)
    assert env.state["spec"]["source"] == "lock model.lock"

    # One changed hash and the build refuses the package, keeping no env.
    bad = lock_path.with_name("tampered.lock")
    good_hash = _sha256(links / PROBE["2.0.0"])
    bad.write_text(lock.text.replace(good_hash, "0" * 64), encoding="utf-8")
    with pytest.raises(ResolutionError) as info:
        _build_locked(res, bad, settings)
    assert "hash" in info.value.what
    assert "envrun-probe-pkg" in info.value.tail or "envrun_probe_pkg" in info.value.tail


@INSTALLERS
def test_an_unresolvable_requirement_is_a_resolution_error_with_a_log(
    tmp_path: Path, links: Path, shared_cache: Path, installer: str
) -> None:
    model = _model(tmp_path / "model", f"--no-index\n--find-links {links}\nenvrun-probe-pkg==9.9\n")
    with pytest.raises(ResolutionError) as info:
        _lock(model, _settings(shared_cache, installer))
    error = info.value
    assert "could not resolve" in error.what
    assert "envrun-probe-pkg" in (error.value or "")
    assert error.log_path and Path(error.log_path).is_file()
    assert "9.9" in Path(error.log_path).read_text()


class _JsonIndex(http.server.BaseHTTPRequestHandler):
    """A PEP 691 simple index (JSON, with PEP 700 upload times) over the files in `root`."""

    root: Path
    uploaded: ClassVar[dict[str, str]] = {
        "1.0.0": "2020-01-01T00:00:00Z",
        "2.0.0": "2022-01-01T00:00:00Z",
    }

    def do_GET(self) -> None:
        self._reply(with_body=True)

    def do_HEAD(self) -> None:
        self._reply(with_body=False)

    def _reply(self, *, with_body: bool) -> None:
        name = self.path.rstrip("/").rsplit("/", 1)[-1]
        if self.path.startswith("/simple/envrun-probe-pkg"):
            files = [
                {
                    "filename": filename,
                    "url": f"/files/{filename}",
                    "hashes": {"sha256": _sha256(self.root / filename)},
                    "upload-time": self.uploaded[version],
                }
                for version, filename in PROBE.items()
            ]
            doc = {"meta": {"api-version": "1.1"}, "name": "envrun-probe-pkg", "files": files}
            body, kind = json.dumps(doc).encode(), "application/vnd.pypi.simple.v1+json"
        elif self.path.startswith("/files/") and (self.root / name).is_file():
            body, kind = (self.root / name).read_bytes(), "application/octet-stream"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def json_index(links: Path) -> Iterator[str]:
    """The URL of a local simple index that, unlike a file:// one, tells upload times."""
    handler = type("Handler", (_JsonIndex,), {"root": links})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@INSTALLERS
def test_exclude_newer_takes_the_release_uploaded_before_the_date(
    tmp_path: Path, json_index: str, shared_cache: Path, installer: str
) -> None:
    model = _model(tmp_path / "model", f"--index-url {json_index}\nenvrun-probe-pkg\n")
    settings = _settings(shared_cache, installer)

    _, newest = _lock(model, settings)
    _, dated = _lock(model, settings, exclude_newer="2021-06-30")

    assert newest.pins == {"envrun-probe-pkg": "2.0.0"}
    assert newest.header["exclude_newer"] is None
    assert dated.pins == {"envrun-probe-pkg": "1.0.0"}
    assert dated.header["exclude_newer"] == "2021-07-01T00:00:00Z"
    assert "--exclude-newer 2021-07-01T00:00:00Z" in dated.text


def _file_index(root: Path, files: dict[str, list[tuple[Path, str | None]]]) -> str:
    """A PEP 503 index of static pages, as file:// serves it; a str marks a file yanked."""
    for project, entries in files.items():
        page = root / "simple" / project
        page.mkdir(parents=True)
        anchors = []
        for wheel, yanked in entries:
            mark = f' data-yanked="{yanked}"' if yanked is not None else ""
            href = f"../../files/{wheel.name}#sha256={_sha256(wheel)}"
            anchors.append(f'<a href="{href}"{mark}>{wheel.name}</a><br/>')
        (page / "index.html").write_text("<html><body>\n" + "\n".join(anchors) + "\n</body></html>")
    return (root / "simple").as_uri() + "/"


@INSTALLERS
def test_check_available_finds_yanked_and_missing_pins(
    tmp_path: Path, shared_cache: Path, installer: str
) -> None:
    files = tmp_path / "index" / "files"
    files.mkdir(parents=True)
    for filename in [*PROBE.values(), FIXTURE_WHEEL]:
        shutil.copy(WHEELS / filename, files / filename)
    ok_wheel = _make_wheel(files, "envrun-ok-pkg", "0.5")
    url = _file_index(
        tmp_path / "index",
        {
            "envrun-probe-pkg": [
                (files / PROBE["1.0.0"], None),
                (files / PROBE["2.0.0"], "bad build"),
            ],
            "envrun-fixture-pkg": [(files / FIXTURE_WHEEL, None)],
            "envrun-ok-pkg": [(ok_wheel, None)],
        },
    )
    settings = _settings(shared_cache, installer)
    interpreter = find_interpreter(
        platform.python_version(),
        explicit=None,
        cache_file=shared_cache / "interpreters.json",
        environ=settings.environ,
    ).interpreter
    pins = {"envrun-probe-pkg": "2.0.0", "Envrun_Fixture_Pkg": "3.0.0", "envrun-ok-pkg": "0.5"}

    found = check_available(
        pins,
        interpreter=interpreter,
        installer=installer,
        index=IndexOptions(index_url=url),
        extra_constraints=(),
        settings=settings,
    )

    assert [(n, v, reason) for n, v, reason, _ in found] == [
        ("envrun-fixture-pkg", "3.0.0", "missing"),
        ("envrun-probe-pkg", "2.0.0", "yanked"),
    ]
    assert "3.0.0" in found[0][3]
    assert "bad build" in found[1][3]
    assert (
        check_available(
            {"envrun-ok-pkg": "0.5", "envrun-probe-pkg": "1.0.0"},
            interpreter=interpreter,
            installer=installer,
            index=IndexOptions(index_url=url),
            extra_constraints=(),
            settings=settings,
        )
        == []
    )
