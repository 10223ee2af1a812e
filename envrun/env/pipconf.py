"""Read the user's pip configuration (files and PIP_* variables) with pip's precedence.

uv does not read pip.conf, so envrun reads it and passes the index options on explicitly.
Precedence, lowest first, as pip applies it on POSIX systems:

* files: global ($XDG_CONFIG_DIRS or /etc/xdg, then /etc), user (~/.pip/pip.conf, then
  $XDG_CONFIG_HOME or ~/.config), site (<site_prefix>/pip.conf), then $PIP_CONFIG_FILE. When
  $PIP_CONFIG_FILE names an existing file the user files are skipped; when it is os.devnull no
  file is read at all. A later file overrides the same section and key of an earlier one.
* sections: a key in [install] overrides the same key in [global], whichever files they come
  from; PIP_* environment variables override both.
"""

from __future__ import annotations

import configparser
import locale
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from envrun.env.requirements import IndexOptions
from envrun.errors import SpecError

# pip's strtobool
_TRUE = ("y", "yes", "t", "true", "on", "1")
_FALSE = ("n", "no", "f", "false", "off", "0")
# pip ignores these PIP_* names: they are not options.
_ENV_IGNORED = ("version", "help")
# Config key (pip's long option name) -> the field it sets; list fields split on whitespace.
_KEYS = {
    "index-url": "index_url",
    "pypi-url": "index_url",
    "extra-index-url": "extra_index_urls",
    "find-links": "find_links",
    "trusted-host": "trusted_hosts",
    "constraint": "constraint_files",
    "no-index": "no_index",
    "pre": "pre",
}
_LISTS = ("extra_index_urls", "find_links", "trusted_hosts", "constraint_files")
_FLAGS = ("no_index", "pre")
_ETC = Path("/etc")


@dataclass(frozen=True)
class PipConfig:
    """The index options pip would use, and where each value in effect came from.

    `constraint_files` are pip's `constraint` setting: files pip applies to every install,
    which uv would not see unless they are passed on.
    """

    index: IndexOptions
    sources: tuple[str, ...]
    constraint_files: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """Plain-data form for reports."""
        return {
            "index": self.index.to_json(),
            "sources": list(self.sources),
            "constraint_files": list(self.constraint_files),
        }


def config_files(
    environ: Mapping[str, str],
    *,
    home: Path,
    site_prefix: Path | None = None,
    etc: Path = _ETC,
) -> list[Path]:
    """The configuration files pip would try, lowest precedence first (existing or not)."""
    env_file = environ.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    dirs = environ.get("XDG_CONFIG_DIRS", "").strip() and environ["XDG_CONFIG_DIRS"]
    xdg_dirs = [_expand(d, home) for d in dirs.split(os.pathsep)] if dirs else [str(etc / "xdg")]
    files = [Path(d, "pip", "pip.conf") for d in xdg_dirs] + [etc / "pip.conf"]
    # pip skips the user files only when PIP_CONFIG_FILE names a file that exists.
    if not (env_file and Path(env_file).exists()):
        user_home = environ.get("XDG_CONFIG_HOME", "")
        user_dir = _expand(user_home, home) if user_home.strip() else home / ".config"
        files += [home / ".pip" / "pip.conf", Path(user_dir, "pip", "pip.conf")]
    if site_prefix is not None:
        files.append(site_prefix / "pip.conf")
    if env_file:
        files.append(Path(env_file))
    return files


def read_pip_config(
    environ: Mapping[str, str],
    *,
    home: Path,
    site_prefix: Path | None = None,
    etc: Path = _ETC,
) -> PipConfig:
    """Read pip's configuration files and PIP_* variables as pip would, for `pip install`.

    `home` stands for ~, `site_prefix` for the prefix of the interpreter whose pip is meant
    (no site file when None) and `etc` for /etc; os.environ is never consulted.
    """
    # "section.key" -> (value, source); a later source replaces an earlier one, as in pip.
    merged: dict[str, tuple[str, str]] = {}
    files = config_files(environ, home=home, site_prefix=site_prefix, etc=etc)
    for path in files:
        for section, key, value in _read_file(path):
            merged[f"{section}.{key}"] = (value, str(path))
    for name, value in environ.items():
        option = name[4:].lower()
        if name.startswith("PIP_") and option not in _ENV_IGNORED:
            merged[f":env:.{_normalize(option)}"] = (value, f"env:{name}")

    texts: dict[str, str] = {}
    lists: dict[str, tuple[str, ...]] = {}
    flags: dict[str, bool] = {}
    winners: dict[str, str] = {}  # field -> the source of the value in effect
    for section in ("global", "install", ":env:"):
        for section_key, (value, source) in merged.items():
            prefix, _, key = section_key.partition(".")
            # pip skips empty values, so an empty PIP_INDEX_URL does not unset anything.
            if prefix != section or key not in _KEYS or not value:
                continue
            target = _KEYS[key]
            if target in _FLAGS:
                flags[target] = _to_bool(value, key, source)
            elif target in _LISTS:
                lists[target] = tuple(value.split())
            else:
                texts[target] = value
            winners[target] = source

    index = IndexOptions(
        index_url=texts.get("index_url"),
        extra_index_urls=lists.get("extra_index_urls", ()),
        find_links=lists.get("find_links", ()),
        trusted_hosts=lists.get("trusted_hosts", ()),
        no_index=flags.get("no_index", False),
        pre=flags.get("pre", False),
    )
    # Report sources from lowest to highest precedence: files in reading order, then variables.
    order = [str(path) for path in files] + [f"env:{name}" for name in environ]
    sources = sorted(set(winners.values()), key=order.index)
    return PipConfig(index, tuple(sources), lists.get("constraint_files", ()))


def _expand(path: str, home: Path) -> str:
    if path == "~" or path.startswith("~/"):
        return str(home) + path[1:]
    return path


def _normalize(name: str) -> str:
    name = name.lower().replace("_", "-")
    return name[2:] if name.startswith("--") else name


def _to_bool(value: str, key: str, source: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise SpecError(
        f"pip configuration: {key} is not a boolean (from {source})",
        value=value,
        fix="use yes/no, true/false, on/off or 1/0",
    )


def _read_file(path: Path) -> list[tuple[str, str, str]]:
    """(section, normalized key, value) for every entry of an existing config file."""
    if not path.exists():
        return []
    parser = configparser.RawConfigParser()
    try:
        # pip reads its config files in the locale's preferred encoding.
        parser.read(path, encoding=locale.getpreferredencoding(False))
    except (configparser.Error, UnicodeDecodeError, OSError) as exc:
        raise SpecError(
            f"pip configuration file {path} cannot be read",
            value=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            fix="fix the file's INI syntax (or its encoding), or point PIP_CONFIG_FILE elsewhere",
        ) from exc
    return [
        (section, _normalize(key), value)
        for section in parser.sections()
        for key, value in parser.items(section)
    ]
