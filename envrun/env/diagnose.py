"""Name the likely cause and fix of an env build failure from the installer's output.

Pure functions over text, so they hold for uv and pip alike and are tested without builds.
"""

from __future__ import annotations

import re
from pathlib import Path

from envrun.env.asof import all_exact
from envrun.env.spec import EnvSpec
from envrun.errors import CommandFailed, Diagnosis, ResolutionError
from envrun.proc import tail

# A C header a package's build includes -> the Debian/Ubuntu package that ships it.
HEADER_PACKAGES = {
    "Python.h": "python3-dev",
    "snappy-c.h": "libsnappy-dev",
    "ffi.h": "libffi-dev",
    "openssl/ssl.h": "libssl-dev",
    "openssl/opensslv.h": "libssl-dev",
    "zlib.h": "zlib1g-dev",
    "bzlib.h": "libbz2-dev",
    "lzma.h": "liblzma-dev",
    "libpq-fe.h": "libpq-dev",
    "mysql.h": "default-libmysqlclient-dev",
    "sqlite3.h": "libsqlite3-dev",
    "krb5.h": "libkrb5-dev",
    "gssapi/gssapi.h": "libkrb5-dev",
    "libxml/xmlversion.h": "libxml2-dev",
    "libxslt/xsltconfig.h": "libxslt1-dev",
    "jpeglib.h": "libjpeg-dev",
    "png.h": "libpng-dev",
    "hdf5.h": "libhdf5-dev",
    "sasl/sasl.h": "libsasl2-dev",
    "lz4.h": "liblz4-dev",
    "zstd.h": "libzstd-dev",
    "cblas.h": "libopenblas-dev",
    "portaudio.h": "portaudio19-dev",
    "sndfile.h": "libsndfile1-dev",
    "graphviz/cgraph.h": "libgraphviz-dev",
    "ldap.h": "libldap2-dev",
    "geos_c.h": "libgeos-dev",
    "gdal.h": "libgdal-dev",
}

_HEADER = re.compile(r"fatal error: ([\w./+-]+\.h): No such file or directory")
_NO_COMPILER = re.compile(
    r"(command '(?:[\w/.-]*/)?(gcc|cc|g\+\+|x86_64-linux-gnu-gcc)' failed|"
    r"(gcc|cc|g\+\+): (?:command not found|No such file or directory)|"
    r"error: command '(gcc|cc|g\+\+)' failed: No such file)"
)
_NO_RUST = re.compile(r"can't find Rust compiler|cargo: (?:command )?not found|rustc.*not found")
_PG_CONFIG = re.compile(r"pg_config executable not found")
_MYSQL_CONFIG = re.compile(
    r"mysql_config(?: not found|: not found)|Can not find valid pkg-config name"
)
_CONFLICT = ("depends on", "the conflict is caused by", "conflicting dependencies")
_UNSOLVABLE = ("no solution found", "resolutionimpossible", "cannot install")
_PIP_CONFLICT_NOTE = "some packages in these conflicts have no matching distributions"
_MISSING = ("there is no version of", "no matching distribution", "could not find a version")

_AS_OF_FIX = (
    "a wheel may have existed on the model's day: resolve as of it (--as-of created, the "
    "default), or pin a release that ships a wheel for this Python"
)


def diagnose_build(output: str) -> Diagnosis | None:
    """The likely cause of a failed build from the installer's output, or None when unclear."""
    header = _HEADER.search(output)
    if header is not None:
        name = header.group(1)
        package = HEADER_PACKAGES.get(name) or HEADER_PACKAGES.get(Path(name).name)
        what = f"the system package {package}" if package else "the system package that ships it"
        return Diagnosis(
            f"a package is built from source and needs the C header {name}, "
            "which this system lacks",
            f"install {what} (apt-get install {package or '<package>'}) or {_AS_OF_FIX}",
        )
    if _PG_CONFIG.search(output):
        return Diagnosis(
            "a package (psycopg2?) is built from source and needs pg_config",
            f"install the system package libpq-dev, or use psycopg2-binary, or {_AS_OF_FIX}",
        )
    if _MYSQL_CONFIG.search(output):
        return Diagnosis(
            "a package (mysqlclient?) is built from source and needs the MySQL client headers",
            "install the system packages default-libmysqlclient-dev and pkg-config",
        )
    if _NO_RUST.search(output):
        return Diagnosis(
            "a package is built from source and needs a Rust compiler",
            f"install Rust (rustup), or {_AS_OF_FIX}",
        )
    if _NO_COMPILER.search(output):
        return Diagnosis(
            "a package is built from source and there is no C compiler",
            f"install the system package build-essential (gcc), or {_AS_OF_FIX}",
        )
    return None


def is_pin_conflict(output: str, spec: EnvSpec) -> bool:
    """True when every requirement is an exact pin and the resolver failed on a conflict
    between them (not on a version the index lacks)."""
    if not all_exact(spec.requirements):
        return False
    # pip (24+) adds this note to conflicts between pins, of the same packages it just named;
    # it is not a missing release.
    lowered = output.lower().replace(_PIP_CONFLICT_NOTE, "")
    return (
        any(hint in lowered for hint in _UNSOLVABLE)
        and any(hint in lowered for hint in _CONFLICT)
        and not any(hint in lowered for hint in _MISSING)
    )


def pin_conflict_error(
    exc: CommandFailed, spec: EnvSpec, installer: str, log: Path
) -> ResolutionError | None:
    """The error for exact pins that conflict with each other, naming --exact-pins; else None."""
    output = (exc.stdout + "\n" + exc.stderr).strip()
    if spec.exact_pins or not is_pin_conflict(output, spec):
        return None
    from envrun.env.store import telling_line

    return ResolutionError(
        f"every requirement of the model is an exact pin, and {installer} finds that they "
        "conflict with each other (as frozen by pip, which did not check dependencies then); "
        "nothing was kept",
        value=telling_line(output, ("depends on", "conflict is caused by", *_UNSOLVABLE)),
        fix="install them exactly as declared, without resolving dependencies: --exact-pins "
        f"(make_settings(exact_pins=True) in the library); full log: {log}",
        log_path=str(log),
        tail=tail(output, 2500),
    )
