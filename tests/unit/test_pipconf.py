"""pip configuration: file order, section and environment precedence, as pip applies them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from envrun.env.pipconf import PipConfig, config_files, read_pip_config
from envrun.env.requirements import IndexOptions
from envrun.errors import SpecError


class Machine:
    """A fake file system layout (etc, home, site prefix) and environment for one test."""

    def __init__(self, base: Path) -> None:
        self.etc = base / "etc"
        self.home = base / "home"
        self.site = base / "venv"
        for path in (self.etc, self.home, self.site):
            path.mkdir(parents=True)
        self.environ: dict[str, str] = {}

    def write(self, path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    @property
    def xdg_global(self) -> Path:
        return self.etc / "xdg" / "pip" / "pip.conf"

    @property
    def etc_file(self) -> Path:
        return self.etc / "pip.conf"

    @property
    def legacy_user(self) -> Path:
        return self.home / ".pip" / "pip.conf"

    @property
    def user(self) -> Path:
        return self.home / ".config" / "pip" / "pip.conf"

    @property
    def site_file(self) -> Path:
        return self.site / "pip.conf"

    def read(self, *, site: bool = True) -> PipConfig:
        return read_pip_config(
            self.environ, home=self.home, site_prefix=self.site if site else None, etc=self.etc
        )


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def test_nothing_configured_gives_defaults(machine: Machine) -> None:
    config = machine.read()
    assert config == PipConfig(IndexOptions(), (), ())


def test_all_keys_are_read(machine: Machine) -> None:
    machine.write(
        machine.user,
        """
        [global]
        index-url = https://mirror.example/simple
        extra-index-url =
            https://one.example/simple
            https://two.example/simple   https://three.example/simple
        find-links = /opt/wheels /srv/wheels
        trusted-host = one.example
            two.example
        no-index = yes
        pre = on
        constraint = /etc/pins.txt
        """,
    )
    config = machine.read()
    assert config.index == IndexOptions(
        index_url="https://mirror.example/simple",
        extra_index_urls=(
            "https://one.example/simple",
            "https://two.example/simple",
            "https://three.example/simple",
        ),
        find_links=("/opt/wheels", "/srv/wheels"),
        trusted_hosts=("one.example", "two.example"),
        no_index=True,
        pre=True,
    )
    assert config.constraint_files == ("/etc/pins.txt",)
    assert config.sources == (str(machine.user),)


def test_file_order_later_files_override_earlier(machine: Machine) -> None:
    files = [
        machine.xdg_global,
        machine.etc_file,
        machine.legacy_user,
        machine.user,
        machine.site_file,
    ]
    for number, path in enumerate(files):
        machine.write(path, f"[global]\nindex-url = https://{number}.example/simple\n")
    assert (
        config_files(machine.environ, home=machine.home, site_prefix=machine.site, etc=machine.etc)
        == files
    )
    for number in range(len(files) - 1, -1, -1):
        config = machine.read()
        assert config.index.index_url == f"https://{number}.example/simple"
        assert config.sources == (str(files[number]),)
        files[number].unlink()


def test_site_file_is_read_only_when_a_prefix_is_given(machine: Machine) -> None:
    machine.write(machine.site_file, "[global]\npre = true\n")
    assert machine.read().index.pre is True
    assert machine.read(site=False).index.pre is False


def test_xdg_config_dirs_each_give_a_global_file_then_etc(machine: Machine, tmp_path: Path) -> None:
    first, second = tmp_path / "xdg1", tmp_path / "xdg2"
    machine.environ["XDG_CONFIG_DIRS"] = f"{first}{os.pathsep}{second}"
    machine.write(first / "pip" / "pip.conf", "[global]\nindex-url = https://first.example\n")
    machine.write(second / "pip" / "pip.conf", "[global]\nindex-url = https://second.example\n")
    machine.write(machine.xdg_global, "[global]\nindex-url = https://ignored.example\n")
    files = config_files(machine.environ, home=machine.home, etc=machine.etc)
    assert files[:3] == [first / "pip" / "pip.conf", second / "pip" / "pip.conf", machine.etc_file]
    # pip reads the list in order, so the last directory wins.
    assert machine.read().index.index_url == "https://second.example"
    machine.write(machine.etc_file, "[global]\nindex-url = https://etc.example\n")
    assert machine.read().index.index_url == "https://etc.example"


def test_xdg_config_home_replaces_dot_config(machine: Machine, tmp_path: Path) -> None:
    custom = tmp_path / "cfg"
    machine.environ["XDG_CONFIG_HOME"] = str(custom)
    machine.write(machine.user, "[global]\nindex-url = https://dot-config.example\n")
    assert machine.read().index.index_url is None
    machine.write(custom / "pip" / "pip.conf", "[global]\nindex-url = https://custom.example\n")
    assert machine.read().index.index_url == "https://custom.example"


def test_blank_xdg_variables_fall_back_to_defaults(machine: Machine) -> None:
    machine.environ.update(XDG_CONFIG_HOME="  ", XDG_CONFIG_DIRS="")
    machine.write(machine.xdg_global, "[global]\nfind-links = /g\n")
    machine.write(machine.user, "[global]\nextra-index-url = https://u.example\n")
    config = machine.read()
    assert config.index.find_links == ("/g",)
    assert config.index.extra_index_urls == ("https://u.example",)


def test_pip_config_file_is_read_last_and_skips_user_files(
    machine: Machine, tmp_path: Path
) -> None:
    machine.write(machine.user, "[global]\ntrusted-host = user.example\n")
    machine.write(machine.site_file, "[global]\nindex-url = https://site.example\n")
    machine.write(machine.xdg_global, "[global]\nfind-links = /global\n")
    custom = machine.write(
        tmp_path / "custom.conf", "[global]\nindex-url = https://custom.example\n"
    )
    machine.environ["PIP_CONFIG_FILE"] = str(custom)
    config = machine.read()
    assert config.index.index_url == "https://custom.example"
    assert config.index.trusted_hosts == ()  # the user file was skipped
    assert config.index.find_links == ("/global",)  # global files still count
    assert config.sources == (str(machine.xdg_global), str(custom))


def test_missing_pip_config_file_keeps_user_files(machine: Machine, tmp_path: Path) -> None:
    machine.write(machine.user, "[global]\ntrusted-host = user.example\n")
    machine.environ["PIP_CONFIG_FILE"] = str(tmp_path / "missing.conf")
    assert machine.read().index.trusted_hosts == ("user.example",)


def test_pip_config_file_devnull_disables_every_file(machine: Machine) -> None:
    for path in (machine.xdg_global, machine.user, machine.site_file):
        machine.write(path, "[global]\nindex-url = https://file.example\n")
    machine.environ["PIP_CONFIG_FILE"] = os.devnull
    machine.environ["PIP_PRE"] = "1"
    config = machine.read()
    assert config.index == IndexOptions(pre=True)
    assert config.sources == ("env:PIP_PRE",)


def test_install_section_overrides_global(machine: Machine) -> None:
    machine.write(
        machine.user,
        """
        [install]
        index-url = https://install.example
        [global]
        index-url = https://global.example
        find-links = /global
        [download]
        find-links = /download-only
        """,
    )
    config = machine.read()
    assert config.index.index_url == "https://install.example"
    assert config.index.find_links == ("/global",)


def test_install_section_of_an_earlier_file_beats_global_of_a_later_one(machine: Machine) -> None:
    # pip merges all files first, then applies [global] and then [install] over it.
    machine.write(machine.user, "[install]\nindex-url = https://user-install.example\n")
    machine.write(machine.site_file, "[global]\nindex-url = https://site-global.example\n")
    config = machine.read()
    assert config.index.index_url == "https://user-install.example"
    assert config.sources == (str(machine.user),)


def test_environment_variables_override_files(machine: Machine) -> None:
    machine.write(
        machine.user,
        """
        [install]
        index-url = https://file.example
        extra-index-url = https://file-extra.example
        find-links = /file-links
        trusted-host = file.example
        no-index = true
        """,
    )
    machine.environ.update(
        PIP_INDEX_URL="https://env.example/simple",
        PIP_EXTRA_INDEX_URL="https://a.example https://b.example",
        PIP_FIND_LINKS="/opt/wheels",
        PIP_TRUSTED_HOST="a.example  b.example",
        PIP_NO_INDEX="off",
    )
    config = machine.read()
    # The environment replaces list values; it does not add to them.
    assert config.index == IndexOptions(
        index_url="https://env.example/simple",
        extra_index_urls=("https://a.example", "https://b.example"),
        find_links=("/opt/wheels",),
        trusted_hosts=("a.example", "b.example"),
        no_index=False,
    )
    assert set(config.sources) == {
        "env:PIP_INDEX_URL",
        "env:PIP_EXTRA_INDEX_URL",
        "env:PIP_FIND_LINKS",
        "env:PIP_TRUSTED_HOST",
        "env:PIP_NO_INDEX",
    }


def test_empty_values_are_ignored(machine: Machine) -> None:
    machine.write(machine.user, "[global]\nindex-url = https://file.example\nfind-links =\n")
    machine.environ["PIP_INDEX_URL"] = ""
    config = machine.read()
    assert config.index.index_url == "https://file.example"
    assert config.index.find_links == ()


def test_unrelated_settings_and_variables_are_ignored(machine: Machine) -> None:
    machine.write(machine.user, "[global]\ntimeout = 60\ncert = /etc/ssl/ca.pem\n")
    machine.environ.update(PIP_DEFAULT_TIMEOUT="180", HOME="/elsewhere", PIP_VERSION="1")
    assert machine.read() == PipConfig(IndexOptions(), (), ())


@pytest.mark.parametrize(
    ("value", "expected"),
    [("yes", True), ("TRUE", True), ("on", True), ("1", True), ("no", False), ("0", False)],
)
def test_no_index_accepts_pip_booleans(machine: Machine, value: str, expected: bool) -> None:
    machine.write(machine.user, f"[global]\nno-index = {value}\n")
    assert machine.read().index.no_index is expected


def test_invalid_boolean_is_a_spec_error(machine: Machine) -> None:
    machine.environ["PIP_NO_INDEX"] = "maybe"
    with pytest.raises(SpecError) as info:
        machine.read()
    assert "no-index" in info.value.what
    assert "env:PIP_NO_INDEX" in info.value.what
    assert info.value.value == "maybe"


def test_key_spellings_are_normalized_as_pip_does(machine: Machine) -> None:
    machine.write(machine.user, "[global]\nIndex_URL = https://x.example\n--pre = yes\n")
    config = machine.read()
    assert config.index.index_url == "https://x.example"
    assert config.index.pre is True


def test_constraint_setting_is_reported(machine: Machine) -> None:
    machine.write(machine.xdg_global, "[global]\nconstraint = /etc/xdg/pip/constraints.txt\n")
    machine.environ["PIP_CONSTRAINT"] = "/a.txt /b.txt"
    config = machine.read()
    assert config.constraint_files == ("/a.txt", "/b.txt")
    assert config.sources == ("env:PIP_CONSTRAINT",)


def test_sources_list_files_in_reading_order_then_variables(machine: Machine) -> None:
    machine.environ["PIP_PRE"] = "yes"
    machine.write(machine.xdg_global, "[global]\ntrusted-host = g.example\nfind-links = /g\n")
    machine.write(machine.user, "[global]\nextra-index-url = https://u.example\n")
    machine.write(machine.site_file, "[global]\nfind-links = /site\n")
    assert machine.read().sources == (
        str(machine.xdg_global),
        str(machine.user),
        str(machine.site_file),
        "env:PIP_PRE",
    )


@pytest.mark.parametrize(
    "text",
    [
        "index-url = https://no-section.example\n",
        "[global]\nindex-url = a\nindex-url = b\n",
        "[global]\n[global]\n",
    ],
)
def test_malformed_file_is_a_spec_error_naming_it(machine: Machine, text: str) -> None:
    bad = machine.write(machine.user, text)
    with pytest.raises(SpecError) as info:
        machine.read()
    assert str(bad) in info.value.what
    assert info.value.fix is not None


def test_os_environ_is_neither_read_nor_changed(machine: Machine) -> None:
    before = dict(os.environ)
    config = machine.read()
    assert config == PipConfig(IndexOptions(), (), ())
    assert dict(os.environ) == before


def test_to_json(machine: Machine) -> None:
    machine.environ.update(PIP_FIND_LINKS="/opt/wheels", PIP_CONSTRAINT="/c.txt")
    assert machine.read().to_json() == {
        "index": IndexOptions(find_links=("/opt/wheels",)).to_json(),
        "sources": ["env:PIP_FIND_LINKS", "env:PIP_CONSTRAINT"],
        "constraint_files": ["/c.txt"],
    }


@pytest.mark.skipif(importlib.util.find_spec("pip") is None, reason="pip is not installed")
def test_matches_pip_config_list_on_this_machine() -> None:
    # Sanity check against the real configuration: the only test that reads it.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    values: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, raw = line.partition("=")
        values[key] = raw.strip("'")

    def effective(key: str) -> str | None:
        found = [values.get(f"{s}.{key}") for s in ("global", "install", ":env:")]
        present = [v for v in found if v]
        return present[-1] if present else None

    config = read_pip_config(os.environ, home=Path.home(), site_prefix=Path(sys.prefix))
    index = config.index
    assert index.index_url == effective("index-url")
    assert index.extra_index_urls == tuple((effective("extra-index-url") or "").split())
    assert index.find_links == tuple((effective("find-links") or "").split())
    assert index.trusted_hosts == tuple((effective("trusted-host") or "").split())
    assert config.constraint_files == tuple((effective("constraint") or "").split())
