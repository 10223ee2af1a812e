"""Installers get their environment from Settings, never from this process's os.environ."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
from pathlib import Path

import pytest

from envrun import api
from envrun.settings import make_settings
from tests.helpers import FIXTURES, make_model, write

pytestmark = pytest.mark.integration

WHEEL = FIXTURES / "wheels" / "envrun_fixture_pkg-1.0.0-py3-none-any.whl"


def _index_with_the_fixture_wheel(root: Path) -> str:
    """A one-project PEP 503 index of static pages, served by file://."""
    files = root / "files"
    files.mkdir(parents=True)
    shutil.copy(WHEEL, files / WHEEL.name)
    digest = hashlib.sha256(WHEEL.read_bytes()).hexdigest()
    page = root / "simple" / "envrun-fixture-pkg" / "index.html"
    write(
        page, f'<html><body><a href="../../files/{WHEEL.name}#sha256={digest}">x</a></body></html>'
    )
    return (root / "simple").as_uri() + "/"


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_pip_index_url_given_in_settings_reaches_the_installer(
    tmp_path: Path, installer: str
) -> None:
    # Nothing but this index serves envrun-fixture-pkg, and only the settings name it: the build
    # succeeds only if the installer's environment comes from them.
    assert "PIP_INDEX_URL" not in os.environ
    url = _index_with_the_fixture_wheel(tmp_path / "index")
    model = make_model(tmp_path / "m", python_version=platform.python_version(), env=None)
    write(model / "requirements.txt", "envrun-fixture-pkg==1.0.0\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "ENVRUN_"))}
    environ |= {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": url}
    settings = make_settings(
        cache_dir=str(tmp_path / "cache"), installer=installer, environ=environ
    )

    resolution = api.resolve(model, settings)
    env = api.ensure_environment(resolution, settings)

    assert env.built
    assert env.state["installed"]["envrun-fixture-pkg"] == "1.0.0"
    assert "PIP_INDEX_URL" not in os.environ
