"""Validation of the referral Bundle, in-process: `validate_bundle` (the R4 base definitions, and the profiles
the entries declare), `validate` per resource, and `read_referral` (which holds each part of the referral to
its profile since 9aa5612).

The example referral declares no `meta.profile`, so `validate_bundle()` on it as sent checks every entry
against its R4 base definition. To measure a Bundle whose entries are held to our profiles as well, the
benchmark also runs it on a copy in which every entry declares the profile that intake holds it to; which
profile that is, is learnt by watching one `read_referral()` call (intake validates a copy of each entry,
so the entry is found again by its type and code).

`python -m bench.validation [--calls N]` runs this section alone (the budget: under 2 ms per Bundle).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import adapter.mapping.referral_in as referral_in
from adapter.fhir.validator import validate, validate_bundle
from bench.decision import Rate, measure


@dataclass(frozen=True)
class Checked:
    """One `validate(resource, profile)` call that intake makes."""

    index: int  # Bundle.entry[index]
    resource_type: str
    profile: str  # the profile's URL

    @property
    def profile_name(self) -> str:
        return self.profile.rsplit("/", 1)[-1]


@contextmanager
def _validate_replaced(replacement: Callable[..., Any]) -> Iterator[None]:
    """`read_referral`'s `validate` swapped for `replacement` (benchmark only; always restored)."""
    original = referral_in.validate
    referral_in.validate = replacement
    try:
        yield
    finally:
        referral_in.validate = original


def _entry_of(bundle: dict[str, Any], resource: dict[str, Any]) -> int:
    """The entry a (copied, references retargeted) resource came from: the one of its type and code."""
    same = [
        i
        for i, e in enumerate(bundle["entry"])
        if e["resource"]["resourceType"] == resource.get("resourceType")
        and e["resource"].get("code") == resource.get("code")
    ]
    if len(same) != 1:
        raise ValueError(f"cannot tell which entry {resource.get('resourceType')} is: {same}")
    return same[0]


def profiles_intake_uses(bundle: dict[str, Any]) -> list[Checked]:
    """Which entry `read_referral` holds to which profile, in the order it validates them."""
    seen: list[Checked] = []

    def watching(resource: dict[str, Any], profile_url: str | None = None) -> Any:
        seen.append(Checked(_entry_of(bundle, resource), str(resource.get("resourceType")), str(profile_url)))
        return validate(resource, profile_url)

    with _validate_replaced(watching):
        referral_in.read_referral(bundle)
    return seen


def with_declared_profiles(bundle: dict[str, Any], checked: list[Checked]) -> dict[str, Any]:
    """A copy of the Bundle in which each entry declares (meta.profile) the profile intake uses."""
    out = copy.deepcopy(bundle)
    for c in checked:
        resource = out["entry"][c.index]["resource"]
        profiles = resource.setdefault("meta", {}).setdefault("profile", [])
        if c.profile not in profiles:
            profiles.append(c.profile)
    return out


def run(bundle: dict[str, Any], calls: int) -> tuple[list[Rate], list[str]]:
    """The rates, and notes on what was (not) checked."""
    pristine = copy.deepcopy(bundle)
    checked = profiles_intake_uses(bundle)
    declared = with_declared_profiles(bundle, checked)
    as_sent_issues = validate_bundle(bundle)
    declared_issues = validate_bundle(declared)
    errors = [i for i in declared_issues if i.severity in ("error", "fatal")]
    notes = [
        f"the example as sent declares no profile, so `validate_bundle` checks each entry against its R4 "
        f"base definition ({len(as_sent_issues)} issues); the 'profiles declared' copy declares, in each of "
        f"{len({c.index for c in checked})} of its {len(bundle['entry'])} entries, the profile intake holds "
        f"that entry to: {len(declared_issues)} issue(s), {len(errors)} of them error(s)",
    ]
    notes += [
        f"error found only by `validate_bundle` (it resolves `urn:uuid:` references within the Bundle; "
        f"intake's per-resource `validate` does not, and accepts the example): {i.diagnostics} "
        f"at `{', '.join(i.expression)}`"
        for i in errors
    ]
    rates = [
        measure(
            "`validate_bundle(bundle)` — the example as sent (R4 base definitions)",
            lambda: validate_bundle(bundle),
            calls,
        ),
        measure(
            "`validate_bundle(bundle)` — profiles declared (our profiles + R4)",
            lambda: validate_bundle(declared),
            calls,
        ),
    ]
    per_resource: dict[tuple[str, str], list[Checked]] = {}
    for c in checked:
        per_resource.setdefault((c.resource_type, c.profile), []).append(c)
    for (rtype, profile), same in per_resource.items():
        resource = bundle["entry"][same[0].index]["resource"]
        times = f" (×{len(same)} in the Bundle)" if len(same) > 1 else ""
        rates.append(
            measure(
                f"`validate({rtype}, {same[0].profile_name})`{times}",
                functools.partial(validate, resource, profile),
                calls,
            )
        )
    rates.append(
        measure(
            f"all {len(checked)} `validate(resource, profile)` calls of one intake",
            lambda: [validate(bundle["entry"][c.index]["resource"], c.profile) for c in checked],
            calls,
        )
    )
    rates.append(
        measure(
            "`read_referral(bundle)` — structure + profiles + mapping",
            lambda: referral_in.read_referral(bundle),
            calls,
        )
    )
    with _validate_replaced(lambda resource, profile_url=None: []):
        rates.append(
            measure(
                "`read_referral(bundle)` with `validate` stubbed out (for contrast)",
                lambda: referral_in.read_referral(bundle),
                calls,
            )
        )
    assert bundle == pristine, "validation changed the Bundle it read"
    return rates, notes


def main(argv: list[str] | None = None) -> None:
    import argparse

    from bench.referrals import example
    from bench.report import machine, table

    p = argparse.ArgumentParser(prog="python -m bench.validation", description=__doc__)
    p.add_argument("--calls", type=int, default=300, help="calls per row (default 300)")
    a = p.parse_args(argv)
    rates, notes = run(example(), a.calls)
    print(machine(), end="\n\n")
    rows = [[r.name, r.calls, r.per_second, r.p50_us, r.p99_us] for r in rates]
    print(table(["what", "calls", "per s", "p50 µs", "p99 µs"], rows))
    for note in notes:
        print(f"\nNote: {note}.")


if __name__ == "__main__":
    main()
