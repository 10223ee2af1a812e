"""A second env for the same model: pins relaxed to today's newest versions, or single packages swapped."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envrun.env.requirements import ReqLine
from envrun.env.spec import EnvSpec, canonical_json
from envrun.errors import InputError


@dataclass(frozen=True)
class VariantChange:
    """One requirement as the model declares it and as the variant env asks for it."""

    name: str
    declared: str | None  # None: the package is not declared, --with adds it
    requested: str

    def to_json(self) -> dict[str, str | None]:
        """Plain-data form for the report."""
        return {"name": self.name, "from": self.declared, "to": self.requested}


def parse_overrides(texts: Sequence[str]) -> dict[str, Requirement]:
    """`--with` values by canonical name; a malformed one is an InputError naming it."""
    found: dict[str, Requirement] = {}
    for text in texts:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise InputError(
                "--with takes a requirement such as 'scikit-learn==1.9.1'",
                value=text,
                fix=f"fix the requirement ({exc})",
            ) from None
        found[canonicalize_name(req.name)] = req
    return found


def _relaxed(line: ReqLine) -> str:
    """The requirement without its version specifier: name, extras and markers stay."""
    try:
        req = Requirement(line.text)
    except InvalidRequirement:
        return line.text
    if req.url:
        return line.text  # a direct reference pins by location; there is nothing to relax
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    marker = f"; {req.marker}" if req.marker else ""
    return f"{req.name}{extras}{marker}"


def variant_spec(
    spec: EnvSpec,
    *,
    upgrade: bool,
    overrides: Sequence[str] = (),
    today: datetime.date | None = None,
) -> tuple[EnvSpec, list[VariantChange]]:
    """The spec of the comparison env and what it changes against the declared one.

    With `upgrade`, every version pin (requirements and -c constraints) is dropped so that the
    installer picks the newest versions that resolve today; `overrides` then replace single
    packages. Hashes are dropped: they pin exact files, which is what a variant must not do.
    Local wheels and direct URLs stay as declared.
    """
    wanted = parse_overrides(overrides)
    changes: list[VariantChange] = []
    requirements: list[ReqLine] = []
    for line in spec.requirements:
        key: str | None = canonicalize_name(line.name) if line.name else None
        text = line.text
        if key in wanted:
            text = str(wanted.pop(key))
        elif upgrade and not line.local_path:
            text = _relaxed(line)
        if text != line.text and key is not None:
            changes.append(VariantChange(key, line.text, text))
        requirements.append(dataclasses.replace(line, text=text, hashes=()))
    for name, req in wanted.items():  # --with for packages the model does not declare
        requirements.append(ReqLine(str(req), req.name, (), "--with", None))
        changes.append(VariantChange(name, None, str(req)))
    overridden = {c.name for c in changes}
    constraints = tuple(
        dataclasses.replace(line, hashes=())
        for line in spec.constraints
        if not upgrade and canonicalize_name(line.name or "") not in overridden
    )
    marker = {
        "upgrade": upgrade,
        "overrides": sorted(str(r) for r in parse_overrides(overrides).values()),
    }
    if upgrade:
        # "Newest today" changes from day to day: one upgraded env per day, not one forever.
        marker["day"] = (today or datetime.date.today()).isoformat()
    digest = hashlib.sha256(canonical_json(marker).encode("utf-8")).hexdigest()
    label = "upgraded" if upgrade else "with " + ", ".join(sorted(overrides))
    variant = dataclasses.replace(
        spec,
        requirements=tuple(requirements),
        constraints=constraints,
        files=(*spec.files, (f"<variant {label}>", digest)),
        source=f"{spec.source} ({label})",
    )
    if upgrade:  # the "today" variant: no cutoff, whatever day the model was saved
        variant = dataclasses.replace(
            variant, as_of=None, as_of_reason="resolved as of now (the upgraded variant)"
        )
    return variant, changes
