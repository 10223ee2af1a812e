"""The `moved` drift class: the model's declaration resolved as of its day, and again today.

An env is built as of the model's day by default (env.asof), so what an unpinned or ranged
requirement, or any transitive dependency, would become today is invisible until someone builds
with `--as-of now`. This class shows it ahead of time: both resolutions come from the installer's
compile, and every package whose pin differs is a finding, classified like any other version
change. Exact pins are spared by the cutoff, so they cannot move; the summary says how many
there were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from envrun import api
from envrun.drift.finding import Finding, Skip, _assess, _canon
from envrun.env.asof import REQUESTED, SAVED, Cutoff, effective_cutoff, exempt_names
from envrun.env.lock import Lock, compile_lock, diff_pins
from envrun.errors import EnvBuildError, SpecError
from envrun.settings import Settings

__all__ = ["as_of_text", "exact_version_of", "moved_drift", "moved_findings"]


def exact_version_of(spec_text: str, *, arbitrary: bool = True) -> str | None:
    """The version of a single exact pin ("==1.2.3", or "===1.2.3" if `arbitrary`), else None."""
    try:
        specs = list(SpecifierSet(spec_text))
    except InvalidSpecifier:
        return None
    operators = ("==", "===") if arbitrary else ("==",)
    if len(specs) == 1 and specs[0].operator in operators and "*" not in specs[0].version:
        return specs[0].version
    return None


def as_of_text(cutoff: Cutoff) -> str:
    """'resolved as of 2022-10-22, when the model was saved' (the day only; now if no cutoff)."""
    if cutoff.when is None:
        return cutoff.describe()
    # A requested date is kept as given: its cutoff is the next midnight (that day included).
    day = f"{cutoff.when:%Y-%m-%d}" if cutoff.reason == SAVED else cutoff.label
    return f"resolved as of {day}, {cutoff.reason}"


def _declared_as(name: str, declared: Mapping[str, str], sources: Mapping[str, str]) -> str:
    if name not in declared:
        return "a transitive dependency"
    where = f" in {sources[name]}" if name in sources else ""
    spec = declared[name].strip()
    return f"declared {spec}{where}" if spec else f"declared without a version{where}"


def _fix(label: str, name: str, old: str | None, new: str | None, pinnable: bool) -> str:
    keep = f"an env resolved as of that day {f'keeps {name} {old}' if old else f'has no {name}'}"
    take = f"taking {name} {new}" if new else f"dropping {name}"
    fix = f"{keep}; before {take}, check the model with today's releases: "
    fix += f"envrun check {label} --as-of now"
    if pinnable and new:
        fix += f", then pin {name}=={new}"
    return fix


def moved_findings(
    label: str,
    cutoff: Cutoff,
    then: Mapping[str, str],
    today: Mapping[str, str],
    *,
    declared: Mapping[str, str] | None = None,
    sources: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> list[Finding]:
    """Each package whose pin differs between the resolution as of `cutoff` and today's.

    `then` and `today` map package names to the versions each resolution pinned; `declared`
    maps the model's direct requirements to their specifier text ("", ">=1", "==2.0"), and
    `sources` to the file declaring them. The last finding (info) sums up, exact pins included.
    """
    wanted = {_canon(k): v for k, v in (declared or {}).items()}
    files = {_canon(k): v for k, v in (sources or {}).items()}
    day = as_of_text(cutoff)
    out: list[Finding] = []
    counts = {"moved": 0, "added": 0, "removed": 0}
    for raw, old, new in diff_pins(then, today):
        name = _canon(raw)
        sev, why = _assess(name, old, new)
        if name not in wanted and sev == "high":
            # A transitive move is what `--as-of now` would bring, not what the build gets (it
            # resolves as of the model's day): worth knowing, not worth failing CI by default.
            sev = "medium"
        origin = _declared_as(name, wanted, files)
        if old is None:
            counts["added"] += 1
            said = f"{name} {new} today, which the env {day} does not have"
            why = "a serialization-critical package is added" if sev == "high" else "added"
        elif new is None:
            counts["removed"] += 1
            said = f"{name} {old} ({day}) is no longer part of the env today"
            why = "a serialization-critical package is removed" if sev == "high" else "removed"
        else:
            counts["moved"] += 1
            said = f"{name} {old} ({day}) -> {new} today"
        pinnable = name in wanted and exact_version_of(wanted[name]) is None
        out.append(
            Finding(
                model=label,
                category="moved",
                subject=name,
                expected=old,
                actual=new,
                severity=sev,
                message=f"{said} ({why}; {origin})",
                fix=_fix(label, name, old, new, pinnable),
                source=files.get(name),
            )
        )
    exact = sum(1 for text in wanted.values() if exact_version_of(text) is not None)
    summary = (
        f"{_plural(len(then), 'package')} {day}, {len(today)} today: {counts['moved']} moved, "
        f"{counts['added']} added, {counts['removed']} removed; exact pins, which cannot move: "
        f"{exact} of {len(wanted)} declared"
    )
    if notes:
        summary += "; " + "; ".join(notes)
    fix = (
        "nothing to do: builds resolve as of that day; pin exactly what must never move"
        if not out
        else "builds resolve as of that day and keep the earlier versions; "
        f"before moving, check the model with today's releases: envrun check {label} --as-of now"
    )
    stamp = cutoff.stamp
    out.append(Finding(label, "moved", "resolution", stamp, "now", "info", summary, fix))
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def moved_drift(
    label: str,
    resolution: api.Resolution,
    settings: Settings,
    *,
    declared: Mapping[str, str],
    sources: Mapping[str, str],
    today: Callable[[], Lock | Finding],
) -> list[Finding]:
    """Resolve the model's declaration as of its cutoff and compare with today's resolution.

    `today` gives today's resolution (shared with the lock class), or a finding that it fails.
    Raises Skip when there is no cutoff to compare with, or the declaration cannot be resolved
    as of it.
    """
    cutoff = effective_cutoff(settings.as_of, resolution.model)
    if cutoff.when is None:
        if cutoff.reason.startswith(REQUESTED):
            raise Skip(
                f"--as-of now ({cutoff.reason}): the model's day is today; pass --as-of created "
                "or a date to compare that day with today"
            )
        raise Skip(
            "the model has no creation time (MLmodel utc_time_created); pass --as-of DATE to "
            "compare that day with today"
        )
    day = as_of_text(cutoff)
    notes: list[str] = []
    try:
        then = compile_lock(
            resolution.spec,
            interpreter=resolution.interpreter,
            installer=resolution.installer.value,
            index=resolution.index,
            extra_constraints=[p for p, _ in resolution.config_constraints],
            settings=settings,
            exclude_newer=cutoff.stamp,
            fingerprint=resolution.fingerprint,
            model_path=str(resolution.model.path),
            exempt=exempt_names(resolution.spec),
            notes=notes,
        )
    except (SpecError, EnvBuildError) as exc:
        detail = f" ({exc.value})" if exc.value else ""
        raise Skip(f"the declared env cannot be {day}: {exc.what}{detail}") from exc
    now = today()
    if isinstance(now, Finding):
        # Resolvable then but not today: what a build with --as-of now would run into.
        fix = "relax or update the pins that no longer resolve; builds as of that day still work"
        return [dataclasses.replace(now, category="moved", fix=fix)]
    return moved_findings(
        label, cutoff, then.pins, now.pins, declared=declared, sources=sources, notes=notes
    )
