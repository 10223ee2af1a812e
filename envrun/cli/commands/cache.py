"""`envrun cache ACTION`: see, bound and clean what envrun keeps on disk (list, size, prune, rm, gc)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envrun.cli.options import Subparsers, add_env_options, add_verb
from envrun.errors import EXIT_CHECK_FAILED, EXIT_OK, EnvrunError

if TYPE_CHECKING:
    from envrun.cli.reporter import TerminalReporter
    from envrun.env.cache import EnvEntry
    from envrun.env.prune import Removal
    from envrun.settings import Settings

    Action = Callable[[argparse.Namespace, Settings, TerminalReporter], int]

_DESCRIPTIONS = {
    "list": "Each cached env: fingerprint, the models it was built for, Python, installer, "
    "as-of date, created, last used, status (complete, incomplete, building, in use) and size "
    "two ways: bytes only it holds, and bytes shared through hardlinks with the installer's cache "
    "(uv links installed files from its own cache; removing the env does not free those).",
    "size": "Totals for envs, logs, tool envs and work dirs, and for the installer caches the "
    "envs link into (located by asking the installer: `uv cache dir`, `pip cache dir`).",
    "prune": "Remove envs, least recently used first. An env in use by a running predict, check, "
    "serve or batch is never removed. Without options, prunes to $ENVRUN_CACHE_MAX_SIZE.",
    "rm": "Remove the envs of a model directory (every env it was used with, and the one it "
    "resolves to now) or the env with a fingerprint (6 or more leading characters).",
    "gc": "Remove incomplete builds nobody is building, work dirs and locks left by killed "
    "processes, logs older than a limit and tool envs whose base Python is gone.",
}


def register(subparsers: Subparsers) -> None:
    """Add `cache` and its actions."""
    c = add_verb(
        subparsers,
        "cache",
        help="see, bound and clean the env cache",
        description="See, bound and clean what envrun keeps on disk, safely while models run.",
    )
    c.set_defaults(run=None, help_parser=c)
    actions = c.add_subparsers(dest="cache_command", metavar="ACTION")
    helps = {
        "list": "list cached envs with status, last use and size",
        "size": "totals for envs, logs, tool envs and the installer's cache",
        "prune": "remove least recently used envs not in use",
        "rm": "remove the env(s) of a model directory or fingerprint",
        "gc": "remove incomplete builds, leftovers and old logs",
    }
    parsers = {}
    for name, text in helps.items():
        p = add_verb(actions, name, help=text, description=_DESCRIPTIONS[name])
        parsers[name] = p
        p.set_defaults(run=run)
    prune = parsers["prune"]
    prune.add_argument("--older-than", metavar="AGE", help="last used before AGE ago (30d, 12h)")
    prune.add_argument(
        "--max-size",
        metavar="SIZE",
        help="remove until the envs take at most SIZE (20G, 512M), each file counted once",
    )
    prune.add_argument("--keep", type=int, metavar="N", help="always keep the N most recent")
    parsers["rm"].add_argument("target", metavar="MODEL_DIR|FINGERPRINT")
    parsers["gc"].add_argument(
        "--logs-older-than", metavar="AGE", default="30d", help="log age limit (default: 30d)"
    )
    for name in ("prune", "rm", "gc"):
        parsers[name].add_argument(
            "--dry-run", action="store_true", help="show what would go; change nothing"
        )
    for p in parsers.values():
        p.add_argument("--json", action="store_true", help="print the envrun.cache/1 document")
        add_env_options(p)


def run(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    """Run the cache action that was asked for."""
    actions: dict[str, Action] = {
        "list": _list,
        "size": _size,
        "prune": _prune,
        "rm": _rm,
        "gc": _gc,
    }
    return actions[args.cache_command](args, settings, reporter)


def _list(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    from envrun.env.cache import list_envs

    listing = list_envs(settings)
    if args.json:
        return _json(reporter, listing.to_json())
    if not listing.envs:
        reporter.result(f"no envs in {settings.cache_dir / 'envs'}")
        return EXIT_OK
    rows: list[tuple[str, ...]] = [
        ("ENV", "STATUS", "PYTHON", "INSTALLER", "LAST USED", "UNIQUE", "SHARED", "MODELS")
    ]
    rows += [_row(e) for e in reversed(listing.envs)]  # most recently used first
    reporter.result(_table(rows))
    for cache in listing.installer_caches:
        reporter.result(
            f"shared: hardlinked with {cache.installer}'s cache {cache.path} "
            f"({human(cache.scan.total)})"
        )
    return EXIT_OK


def _row(e: EnvEntry) -> tuple[str, ...]:
    size = e.size
    shared = size.shared_installer_cache + size.shared_other if size else 0
    models = ", ".join(m.get("name") or m.get("path", "?") for m in e.models) or "-"
    return (
        e.name,
        e.status,
        e.python or "-",
        e.installer or "-",
        _ago(e.last_used),
        human(size.unique) if size else "-",
        human(shared) if size else "-",
        models,
    )


def _size(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    from envrun.env.cache import cache_size

    report = cache_size(settings)
    if args.json:
        return _json(reporter, report.to_json())
    envs = report.envs
    lines = [
        f"cache     {report.cache_dir}: {human(report.total)}",
        f"envs      {envs['count']}: {human(envs['total_bytes'])} "
        f"({human(envs['unique_bytes'])} only in envrun's cache, "
        f"{human(envs['shared_installer_cache_bytes'])} shared with the installer's cache, "
        f"{human(envs['shared_other_bytes'])} linked elsewhere)",
    ]
    for key in ("logs", "tools", "tmp"):
        part = report.parts[key]
        lines.append(f"{key:<9} {part['count']}: {human(part['bytes'])}")
    for cache in report.installer_caches:
        lines.append(f"{cache.installer} cache  {cache.path}: {human(cache.scan.total)}")
    if report.installer_caches:
        lines.append(
            f"envs and installer cache together (each file once): "
            f"{human(envs['with_installer_caches_bytes'])}"
        )
    reporter.result("\n".join(lines))
    return EXIT_OK


def _prune(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    from envrun.env.prune import parse_age, prune
    from envrun.settings import parse_size

    older = parse_age(args.older_than, source="--older-than") if args.older_than else None
    size = parse_size(args.max_size, source="--max-size") if args.max_size else None
    if args.keep is not None and args.keep < 0:
        raise EnvrunError("--keep must not be negative", value=str(args.keep), fix="use 0 or more")
    if older is None and size is None and args.keep is None:
        size = settings.cache_max_size
        if size is None:
            raise EnvrunError(
                "nothing to prune by: no limit was given",
                value="envrun cache prune",
                fix="add --older-than AGE, --max-size SIZE or --keep N, or set "
                "ENVRUN_CACHE_MAX_SIZE",
            )
    report = prune(settings, older_than=older, max_size=size, keep=args.keep, dry_run=args.dry_run)
    return _removal(args, report, reporter)


def _rm(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    from envrun.env.prune import MIN_PREFIX, remove_envs

    target = Path(args.target)
    if (target / "MLmodel").is_file():
        from envrun import api

        fp = api.resolve(target, settings).fingerprint
        report = remove_envs(
            settings, fingerprints=(fp,), model_path=target.absolute(), dry_run=args.dry_run
        )
    elif len(args.target) >= MIN_PREFIX and all(c in "0123456789abcdef" for c in args.target):
        report = remove_envs(settings, fingerprints=(args.target,), dry_run=args.dry_run)
        if not report.removed and not report.skipped:  # a typo is likelier than a no-op
            raise EnvrunError(
                "no cached env has a fingerprint that starts with this",
                value=args.target,
                fix="copy a fingerprint from `envrun cache list` (6 or more leading characters)",
            )
    else:
        raise EnvrunError(
            "cache rm takes a model directory or a fingerprint",
            value=args.target,
            fix="pass a directory holding an MLmodel file, or 6+ leading hex characters of a "
            "fingerprint from `envrun cache list`",
        )
    if not report.removed and not report.skipped and not args.json:
        reporter.result(f"no cached env for {args.target}")
        return EXIT_OK
    return _removal(args, report, reporter)


def _removal(args: argparse.Namespace, report: Removal, reporter: TerminalReporter) -> int:
    if args.json:
        _json(reporter, report.to_json())
    else:
        verb = "would remove" if report.dry_run else "removed"
        for entry in report.removed:
            unique = human(entry.size.unique) if entry.size else "?"
            reporter.result(f"{verb} {entry.name} (last used {_ago(entry.last_used)}, {unique})")
        for entry, why in report.skipped:
            reporter.warn(f"kept {entry.name}: {why} by a running envrun process")
        reporter.result(
            f"{verb} {len(report.removed)} env(s), freeing {human(report.freed_bytes)}; "
            f"envs now {human(report.envs_bytes_after if not report.dry_run else report.envs_bytes_before)}"
        )
    # rm that could not remove what it was asked to is a finding, as a failed check is.
    return EXIT_CHECK_FAILED if report.kind == "rm" and report.skipped else EXIT_OK


def _gc(args: argparse.Namespace, settings: Settings, reporter: TerminalReporter) -> int:
    from envrun.env.gc import gc
    from envrun.env.prune import parse_age

    age = parse_age(args.logs_older_than, source="--logs-older-than")
    report = gc(settings, log_age=age, dry_run=args.dry_run)
    if args.json:
        return _json(reporter, report.to_json())
    for item in report.items:
        reporter.result(
            f"{item.action:<12} {item.kind}: {item.path} ({item.reason}, {human(item.bytes)})"
        )
    verb = "would free" if report.dry_run else "freed"
    reporter.result(f"{verb} {human(report.freed_bytes)}")
    return EXIT_OK


def _json(reporter: TerminalReporter, doc: dict[str, Any]) -> int:
    reporter.result(json.dumps(doc, indent=2))
    return EXIT_OK


def human(size: int) -> str:
    """Bytes in binary units, as `du -h` prints them (512B, 1.5K, 20G)."""
    value = float(size)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "B" or value >= 10 else f"{value:.1f}{unit}"
        value /= 1024
    return f"{size}B"


def _ago(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    seconds = max(0.0, time.time() - stamp)
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{int(seconds // length)}{unit} ago"
    return "just now"


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
