"""Lexing of pip requirements files: logical lines, comments and the option grammar."""

from __future__ import annotations

import re
import shlex

from envrun.errors import SpecError

# pip: "#" starts a comment at the line start or after whitespace, so URL fragments survive.
COMMENT_RE = re.compile(r"(^|\s+)#.*$")
HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
# Every option pip accepts in a requirements file, mapped to whether it takes a value.
OPTIONS = {
    "--index-url": True,
    "--pypi-url": True,
    "--extra-index-url": True,
    "--no-index": False,
    "--constraint": True,
    "--requirement": True,
    "--editable": True,
    "--find-links": True,
    "--no-binary": True,
    "--only-binary": True,
    "--prefer-binary": False,
    "--require-hashes": False,
    "--pre": False,
    "--trusted-host": True,
    "--use-feature": True,
    "--global-option": True,
    "--hash": True,
    "--config-settings": True,
}
SHORT = {
    "-i": "--index-url",
    "-c": "--constraint",
    "-r": "--requirement",
    "-e": "--editable",
    "-f": "--find-links",
    "-C": "--config-settings",
}
FIX_OPTION = "use only the options pip allows in requirements files"


def fail(origin: str, what: str, value: str, fix: str) -> SpecError:
    return SpecError(f"{origin}: {what}", value=value, fix=fix)


def logical_lines(content: str) -> list[tuple[int, str]]:
    """Join backslash continuations, then drop comments and blank lines, as pip does."""
    joined: list[tuple[int, str]] = []
    pending: list[str] = []
    first = 0
    for number, raw in enumerate(content.splitlines(), start=1):
        is_comment = COMMENT_RE.match(raw) is not None
        if raw.endswith("\\") and not is_comment:
            first = first if pending else number
            pending.append(raw.strip("\\"))
            continue
        # A leading space keeps a comment line a comment once glued to a continuation.
        line = " " + raw if is_comment else raw
        joined.append((first, "".join([*pending, line])) if pending else (number, line))
        pending = []
    if pending:
        joined.append((first, "".join(pending)))
    stripped = ((n, COMMENT_RE.sub("", line).strip()) for n, line in joined)
    return [(n, line) for n, line in stripped if line]


def split_options(text: str, origin: str) -> list[tuple[str, str | None]]:
    """Tokenize the options part of a line as optparse would; names come back in long form."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise fail(origin, f"cannot split the options ({exc})", text, "balance quotes") from exc
    result: list[tuple[str, str | None]] = []
    i = 0
    while i < len(tokens):
        token, value = tokens[i], None
        i += 1
        if token.startswith("--"):
            name, eq, inline = token.partition("=")
            # optparse accepts any unambiguous prefix of a long option.
            matches = [name] if name in OPTIONS else [o for o in OPTIONS if o.startswith(name)]
            if len(matches) != 1:
                what = f"ambiguous option {name} ({' or '.join(matches)}?)" if matches else ""
                raise fail(origin, what or f"unknown option {name}", text, FIX_OPTION)
            name, value = matches[0], (inline if eq else None)
        elif token[:2] in SHORT:
            name, value = SHORT[token[:2]], (token[2:] or None)
        elif token.startswith("-"):
            raise fail(origin, f"unknown option {token}", text, FIX_OPTION)
        else:
            raise fail(
                origin,
                f"unexpected argument {token!r} among the options",
                text,
                "put one requirement first on its line, options after it",
            )
        if OPTIONS[name] and value is None:
            if i == len(tokens):
                raise fail(origin, f"option {name} needs a value", text, f"write {name} VALUE")
            value, i = tokens[i], i + 1
        elif not OPTIONS[name] and value is not None:
            raise fail(origin, f"option {name} takes no value", text, f"write {name} alone")
        result.append(("--index-url" if name == "--pypi-url" else name, value))
    return result


def check_hash(value: str, origin: str) -> str:
    algo, _, digest = value.partition(":")
    if len(digest) != HASH_LENGTHS.get(algo, -1) or not re.fullmatch(r"[0-9a-fA-F]+", digest):
        raise fail(
            origin,
            "malformed --hash",
            value,
            "write --hash=sha256:<64 hex digits> (sha384 and sha512 also work)",
        )
    return f"{algo}:{digest.lower()}"
