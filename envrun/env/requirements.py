"""Parse pip requirements files found in model directories into data the installers consume.

Follows pip's requirement-file rules (comments, continuations, -r/-c includes, index options,
per-line hashes) but refuses what a cached, fingerprinted env cannot honour: editable installs,
environment-variable references, remote include files and paths leaving the model directory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from envrun.env.reqlex import (
    check_hash,
    fail,
    logical_lines,
    split_options,
)
from envrun.errors import SpecError

# pip: the requirement ends at the first whitespace-separated token that starts with "-".
_OPTIONS_START_RE = re.compile(r"(?:^|\s)-")
_BARE_URL_RE = re.compile(r"^(?:https?|ftp|file|(?:git|hg|svn|bzr)\+[a-z]+):", re.IGNORECASE)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # two letters or more: not a drive
_EXTRAS_RE = re.compile(r"^(.+?)(\[[^\[\]]*\])$")
_EGG_RE = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
# "pip=20.2.4": conda's single "=" where pip wants "==" (old models carry it over from conda.yaml).
_SINGLE_EQ_RE = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*(?:\s*\[[^\]]*\])?)\s*=\s*(\d[^\s=<>!~;]*)\s*(;.*)?$"
)
_ARCHIVE_EXTS = (
    ".whl",
    ".zip",
    ".tar.gz",
    ".tgz",
    ".tar",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
)
# Known to pip, but they change how packages are chosen or built and envrun does not pass them on.
_UNSUPPORTED = (
    "--no-binary",
    "--only-binary",
    "--prefer-binary",
    "--use-feature",
    "--global-option",
    "--config-settings",
)
_REQ_LINE_OPTIONS = ("--hash", "--global-option", "--config-settings")


def _plain(obj: IndexOptions | ReqLine) -> dict[str, object]:
    values = ((f.name, getattr(obj, f.name)) for f in fields(obj))
    return {name: list(v) if isinstance(v, tuple) else v for name, v in values}


def _union(*groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for group in groups for item in group))


class MissingRequirementsFile(SpecError):
    """A requirements file that a declaration includes (-r/-c) does not exist."""


@dataclass(frozen=True)
class IndexOptions:
    """Where packages come from: pip's index and find-links options."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    no_index: bool = False
    pre: bool = False

    def merged(self, other: IndexOptions) -> IndexOptions:
        """Layer `other` on top: its index_url replaces ours, lists are unioned, flags or-ed."""
        return IndexOptions(
            index_url=other.index_url if other.index_url is not None else self.index_url,
            extra_index_urls=_union(self.extra_index_urls, other.extra_index_urls),
            find_links=_union(self.find_links, other.find_links),
            trusted_hosts=_union(self.trusted_hosts, other.trusted_hosts),
            no_index=self.no_index or other.no_index,
            pre=self.pre or other.pre,
        )

    def to_json(self) -> dict[str, object]:
        """Plain-data form for fingerprints and reports."""
        return _plain(self)


@dataclass(frozen=True)
class ReqLine:
    """One requirement, ready to hand to an installer; `origin` is "file:line" under the root."""

    text: str
    name: str | None
    hashes: tuple[str, ...]
    origin: str
    local_path: str | None

    def to_json(self) -> dict[str, object]:
        """Plain-data form for fingerprints and reports."""
        return _plain(self)


@dataclass(frozen=True)
class ParsedRequirements:
    """Everything a requirements file (and the files it includes) declares.

    `files` pairs each file read (requirements files and local archives, paths relative to
    the model root) with the sha256 of its bytes. `require_hashes` is pip's hash-checking mode.
    """

    requirements: tuple[ReqLine, ...]
    constraints: tuple[ReqLine, ...]
    index: IndexOptions
    files: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    require_hashes: bool = False


def parse_requirements_file(path: Path, *, root: Path) -> ParsedRequirements:
    """Parse a requirements file in the model directory `root` (a relative path is from root)."""
    parser = _Parser(root)
    parser.read_file(root / path, constraint=False, where=path.name)
    return parser.finish()


def parse_requirement_lines(
    lines: Sequence[str], *, origin: str, base_dir: Path, root: Path
) -> ParsedRequirements:
    """Parse requirement lines given as a list, e.g. python_env.yaml's `dependencies`.

    Entry i is reported as `f"{origin}[{i}]"`; `-r`/`-c` paths are relative to `base_dir`.
    """
    parser = _Parser(root)
    base = (parser.root / base_dir).resolve()
    parser.inside_root(base, origin, str(base_dir))
    for index, entry in enumerate(lines):
        for _, line in logical_lines(entry):
            parser.line(line, origin=f"{origin}[{index}]", base_dir=base, constraint=False)
    return parser.finish()


def render_requirements_txt(reqs: Sequence[ReqLine]) -> str:
    """Render requirements as a file for `pip install -r` / `uv pip install -r`."""
    return "".join(" ".join([r.text, *(f"--hash={h}" for h in r.hashes)]) + "\n" for r in reqs)


def _is_pinned(req: Requirement) -> bool:
    specs = list(req.specifier)
    return len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version


def _looks_local(spec: str) -> bool:
    """pip's test: a path separator, a leading dot or an archive suffix means a local file."""
    if not (
        "/" in spec or "\\" in spec or spec.startswith(".") or spec.lower().endswith(_ARCHIVE_EXTS)
    ):
        return False
    before, at, _ = spec.partition("@")  # "name @ https://host/x.whl" is a URL requirement
    return not at or "/" in before or before.startswith(".")


def _name_from_filename(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[0]
        return parse_sdist_filename(filename)[0]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


class _Parser:
    """Accumulates what the lines of one or more files declare."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.requirements: list[ReqLine] = []
        self.constraints: list[ReqLine] = []
        self.index: dict[str, list[str]] = {"index": [], "extra": [], "links": [], "hosts": []}
        self.flags: set[str] = set()
        self.hash_reason: str | None = None
        self.files: dict[str, str] = {}
        self.warnings: list[str] = []
        self.stack: list[Path] = []

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def inside_root(self, resolved: Path, origin: str, shown: str) -> None:
        if not resolved.is_relative_to(self.root):
            raise fail(
                origin,
                f"path leaves the model directory {self.root}",
                shown,
                "keep referenced files inside the model directory (no absolute paths "
                "elsewhere, no '..' above it, no symlinks pointing out)",
            )

    def read_file(self, path: Path, *, constraint: bool, where: str) -> None:
        resolved = path.resolve()
        self.inside_root(resolved, where, str(path))
        if not resolved.is_file():
            raise MissingRequirementsFile(
                f"{where}: requirements file not found",
                value=str(path),
                fix="add the file or fix the path (relative to the including file)",
            )
        if resolved in self.stack:
            chain = " -> ".join(self.rel(p) for p in [*self.stack, resolved])
            raise fail(
                where,
                "requirements files include each other in a cycle",
                chain,
                "remove one of the -r/-c lines that form the cycle",
            )
        rel, data = self.rel(resolved), resolved.read_bytes()
        self.files.setdefault(rel, hashlib.sha256(data).hexdigest())
        try:
            content = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise fail(rel, f"not valid UTF-8 ({exc})", str(resolved), "save it as UTF-8") from exc
        self.stack.append(resolved)
        for number, line in logical_lines(content):
            self.line(
                line, origin=f"{rel}:{number}", base_dir=resolved.parent, constraint=constraint
            )
        self.stack.pop()

    def line(self, text: str, *, origin: str, base_dir: Path, constraint: bool) -> None:
        if "${" in text:
            raise fail(
                origin,
                "environment variable references (${...}) are not supported",
                text,
                "write the value literally",
            )
        match = _OPTIONS_START_RE.search(text)
        args = text[: match.start()].strip() if match else text
        options = split_options(text[match.start() :], origin) if match else []
        for name, _ in options:
            if name == "--editable":
                raise fail(
                    origin,
                    "editable installs (-e) are not supported in a cached env",
                    text,
                    "use a plain path (./dir) or a wheel instead of -e",
                )
            if name in _UNSUPPORTED:
                raise fail(
                    origin,
                    f"pip option {name} is not supported by envrun",
                    text,
                    f"remove {name} from the requirements file",
                )
        if not args:
            for name, value in options:
                self.option(name, value or "", origin=origin, base_dir=base_dir)
            return
        ignored = sorted({n for n, _ in options if n not in _REQ_LINE_OPTIONS})
        if ignored:
            self.warnings.append(
                f"{origin}: {', '.join(ignored)} after a requirement is ignored "
                "(pip ignores it too); put it on a line of its own"
            )
        hashes = _union([check_hash(v or "", origin) for n, v in options if n == "--hash"])
        (self.constraints if constraint else self.requirements).append(
            self.requirement(args, hashes, origin)
        )
        if hashes and not constraint:
            self.hash_reason = self.hash_reason or f"{origin} has --hash"

    def option(self, name: str, value: str, *, origin: str, base_dir: Path) -> None:
        if name in ("--requirement", "--constraint"):
            if _SCHEME_RE.match(value):
                raise fail(
                    origin,
                    "requirements files given as URLs are not supported",
                    value,
                    "copy the file into the model directory",
                )
            # As in pip, -r yields requirements even inside a -c file, and -c yields constraints.
            self.read_file(base_dir / value, constraint=name == "--constraint", where=origin)
        elif name in ("--index-url", "--extra-index-url", "--trusted-host"):
            key = {"--index-url": "index", "--extra-index-url": "extra"}.get(name, "hosts")
            self.index[key].append(value)
        elif name == "--find-links":
            self.index["links"].append(self.find_links(value, base_dir, origin))
        elif name == "--hash":
            self.warnings.append(f"{origin}: --hash without a requirement is ignored")
        elif name == "--require-hashes":
            self.hash_reason = self.hash_reason or f"{origin} has --require-hashes"
        else:  # --no-index, --pre
            self.flags.add(name)

    def find_links(self, value: str, base_dir: Path, origin: str) -> str:
        if _SCHEME_RE.match(value) or Path(value).is_absolute():
            return value
        # pip tries the including file's directory; the model root is the fallback.
        for base in (base_dir, self.root):
            candidate = (base / value).resolve()
            if candidate.exists():
                self.inside_root(candidate, origin, value)
                return str(candidate)
        raise fail(
            origin,
            "find-links directory not found",
            value,
            "create it in the model directory, or give an absolute path or a URL",
        )

    def requirement(self, args: str, hashes: tuple[str, ...], origin: str) -> ReqLine:
        if _BARE_URL_RE.match(args):
            return self.bare_url(args, hashes, origin)
        spec, sep, marker_text = args.partition(";")
        with_extras = _EXTRAS_RE.match(spec.strip())
        path_text, extras = with_extras.groups() if with_extras else (spec.strip(), "")
        if _looks_local(path_text):
            marker = self.marker(marker_text, origin) if sep else None
            return self.local(
                path_text,
                extras=self.extras(extras, origin),
                marker=marker,
                hashes=hashes,
                origin=origin,
                name=None,
            )
        single = _SINGLE_EQ_RE.match(args)
        if single:
            fixed = f"{single.group(1)}=={single.group(2)}{single.group(3) or ''}"
            self.warnings.append(f"{origin}: read {args!r} as {fixed!r} (pip wants '==')")
            args = fixed
        try:
            req = Requirement(args)
        except InvalidRequirement as exc:
            raise fail(
                origin,
                f"invalid requirement ({exc})",
                args,
                "write a PEP 508 requirement, e.g. 'name==1.0' or 'name @ URL'",
            ) from exc
        url = req.url
        if url and (url.lower().startswith("file:") or not _SCHEME_RE.match(url)):
            path = self.file_url_path(url, origin) if _SCHEME_RE.match(url) else url
            marker = str(req.marker) if req.marker else None
            return self.local(
                path,
                extras=sorted(req.extras),
                marker=marker,
                hashes=hashes,
                origin=origin,
                name=req.name,
            )
        return ReqLine(str(req), canonicalize_name(req.name), hashes, origin, None)

    def bare_url(self, args: str, hashes: tuple[str, ...], origin: str) -> ReqLine:
        url, sep, marker_text = args.partition("; ")  # pip wants "; " after a URL
        url = url.strip()
        marker = self.marker(marker_text, origin) if sep else None
        if url.lower().startswith("file:"):
            return self.local(
                self.file_url_path(url, origin),
                extras=[],
                marker=marker,
                hashes=hashes,
                origin=origin,
                name=None,
            )
        egg = _EGG_RE.search(url)
        name = egg.group(1) if egg else _name_from_filename(urlsplit(url).path.rsplit("/", 1)[-1])
        if name is None:
            raise fail(
                origin,
                "cannot tell which project this URL provides",
                url,
                "write it as 'name @ URL'",
            )
        text = f"{name} @ {url}" + (f" ; {marker}" if marker else "")
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise fail(
                origin, f"invalid URL requirement ({exc})", args, "write it as 'name @ URL'"
            ) from exc
        return ReqLine(str(req), canonicalize_name(req.name), hashes, origin, None)

    def file_url_path(self, url: str, origin: str) -> str:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise fail(origin, "file URL on another host", url, "use a path in the model dir")
        return unquote(parts.path)

    def marker(self, text: str, origin: str) -> str | None:
        if not text.strip():
            return None
        try:
            return str(Marker(text.strip()))
        except InvalidMarker as exc:
            raise fail(
                origin,
                f"invalid environment marker ({exc})",
                text.strip(),
                "write a PEP 508 marker, e.g. python_version < '3.11'",
            ) from exc

    def extras(self, text: str, origin: str) -> list[str]:
        try:
            return sorted(Requirement("placeholder" + text).extras) if text else []
        except InvalidRequirement as exc:
            raise fail(origin, "invalid extras", text, "write extras as [name1,name2]") from exc

    def local(
        self,
        path_text: str,
        *,
        extras: list[str],
        marker: str | None,
        hashes: tuple[str, ...],
        origin: str,
        name: str | None,
    ) -> ReqLine:
        resolved = (self.root / path_text).resolve()  # an absolute path_text replaces the root
        self.inside_root(resolved, origin, path_text)
        if not resolved.exists():
            raise fail(
                origin,
                "local requirement not found",
                str(resolved),
                "add it to the model directory or fix the path "
                "(local paths are relative to the model root)",
            )
        if resolved.is_dir():
            if not any((resolved / f).is_file() for f in ("pyproject.toml", "setup.py")):
                raise fail(
                    origin,
                    "local directory is not installable",
                    str(resolved),
                    "add pyproject.toml or setup.py, or reference a wheel",
                )
            self.warnings.append(
                f"{origin}: local directory {self.rel(resolved)} is not "
                "content-hashed; edits to it do not trigger a rebuild"
            )
        elif not resolved.name.lower().endswith(_ARCHIVE_EXTS):
            raise fail(
                origin,
                "local requirement is not a wheel or source archive",
                str(resolved),
                "reference a .whl, .tar.gz or .zip file",
            )
        else:
            data = resolved.read_bytes()
            self.files.setdefault(self.rel(resolved), hashlib.sha256(data).hexdigest())
            from_file = _name_from_filename(resolved.name)
            is_wheel = resolved.name.endswith(".whl")
            if is_wheel and name and from_file and canonicalize_name(name) != from_file:
                raise fail(
                    origin,
                    f"the wheel does not provide project {name!r}",
                    resolved.name,
                    "fix the name before '@'",
                )
            name = name or from_file
        extras_text = f"[{','.join(extras)}]" if extras else ""
        marker_text = f" ; {marker}" if marker else ""
        if name:
            text = f"{name}{extras_text} @ {resolved.as_uri()}{marker_text}"
        else:
            text = f"{resolved}{extras_text}{marker_text}"
        canonical = canonicalize_name(name) if name else None
        return ReqLine(text, canonical, hashes, origin, str(resolved))

    def without_duplicates(self, reqs: list[ReqLine]) -> list[ReqLine]:
        """Drop a line listed twice verbatim; flag one project pinned two ways."""
        kept: dict[tuple[str, tuple[str, ...]], ReqLine] = {}
        by_name: dict[str, ReqLine] = {}
        for req in reqs:
            first = kept.get((req.text, req.hashes))
            if first is not None:
                self.warnings.append(
                    f"{req.origin}: {req.text} is listed twice (first at {first.origin}); "
                    "the second is dropped"
                )
                continue
            kept[(req.text, req.hashes)] = req
            other = by_name.get(req.name or "")
            if other is not None and ";" not in other.text + req.text:
                self.warnings.append(
                    f"{req.origin}: {req.name} is listed twice, as {other.text} "
                    f"({other.origin}) and {req.text}; the installer must satisfy both"
                )
            if req.name:
                by_name.setdefault(req.name, req)
        return list(kept.values())

    def finish(self) -> ParsedRequirements:
        self.requirements = self.without_duplicates(self.requirements)
        if self.hash_reason is not None:
            missing = [r.origin for r in self.requirements if not r.hashes]
            if missing:
                raise SpecError(
                    f"hash-checking mode is on ({self.hash_reason}): all requirements need --hash",
                    value="lines without --hash: " + ", ".join(missing),
                    fix="add --hash=sha256:... to those lines (`pip hash FILE` prints it), "
                    "or remove every --hash and --require-hashes",
                )
            unpinned = [
                r.origin
                for r in self.requirements
                if r.local_path is None
                and not (req := Requirement(r.text)).url
                and not _is_pinned(req)
            ]
            if unpinned:
                raise SpecError(
                    f"hash-checking mode is on ({self.hash_reason}): requirements must be pinned",
                    value="unpinned lines: " + ", ".join(unpinned),
                    fix="pin each of those requirements to one version with ==",
                )
        urls = self.index["index"]
        index = IndexOptions(
            index_url=urls[-1] if urls else None,
            extra_index_urls=_union(self.index["extra"]),
            find_links=_union(self.index["links"]),
            trusted_hosts=_union(self.index["hosts"]),
            no_index="--no-index" in self.flags,
            pre="--pre" in self.flags,
        )
        return ParsedRequirements(
            tuple(self.requirements),
            tuple(self.constraints),
            index,
            tuple(self.files.items()),
            tuple(self.warnings),
            self.hash_reason is not None,
        )
