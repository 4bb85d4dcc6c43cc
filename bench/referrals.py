"""Distinct, valid referrals made from the README's example: a fresh BSN and referral number each."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

from adapter.config import PROJECT_ROOT
from adapter.domain.identifiers import is_valid_bsn

EXAMPLE = PROJECT_ROOT / "examples" / "referral.json"
BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def bsns(seed: int = 1) -> Iterator[str]:
    """Distinct elfproef-valid BSNs, reproducibly (9a+8b+...+2h-i a multiple of 11)."""
    rnd = random.Random(seed)
    seen: set[str] = set()
    while True:
        head = [rnd.randint(1, 9), *(rnd.randint(0, 9) for _ in range(7))]
        check = sum(w * d for w, d in zip(range(9, 1, -1), head, strict=True)) % 11
        if check == 10:
            continue  # no check digit makes this one valid
        bsn = "".join(map(str, head)) + str(check)
        if bsn in seen:
            continue
        assert is_valid_bsn(bsn), bsn
        seen.add(bsn)
        yield bsn


def variant(base: dict[str, Any], bsn: str, referral_number: str) -> dict[str, Any]:
    """The example with another woman (BSN) and another referral (ServiceRequest identifier)."""
    b = copy.deepcopy(base)
    for entry in b["entry"]:
        res, req = entry["resource"], entry.get("request", {})
        if res["resourceType"] == "Patient":
            res["identifier"] = [{"system": BSN_SYSTEM, "value": bsn}]
            req["ifNoneExist"] = f"identifier={BSN_SYSTEM}|{bsn}"
        elif res["resourceType"] == "ServiceRequest":
            system = res["identifier"][0]["system"]
            res["identifier"] = [{"system": system, "value": referral_number}]
            req["ifNoneExist"] = f"identifier={system}|{referral_number}"
    return b


def distinct(n: int, run: str, seed: int = 1) -> list[bytes]:
    """`n` referral bodies, serialised up front so the client spends no time on JSON while timed."""
    base = example()
    gen = bsns(seed)
    return [
        json.dumps(variant(base, next(gen), f"BENCH-{run}-{i:06d}"), separators=(",", ":")).encode()
        for i in range(n)
    ]
