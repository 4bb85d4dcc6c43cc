"""The SUSHI examples of the package, by profile (shared by the validator tests)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from adapter.data import PACKAGE_DIR

CANONICAL = "https://fhir.voorzorg.nl/StructureDefinition/"


@cache
def example_files() -> dict[str, dict[str, Any]]:
    """file name -> example instance (every `*-example-*.json` of the package)."""
    return {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(Path(PACKAGE_DIR).glob("*-example-*.json"))
    }


@cache
def _by_profile() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for res in example_files().values():
        for r in [res, *[e["resource"] for e in res.get("entry", []) if "resource" in e]]:
            for url in r.get("meta", {}).get("profile", []):
                out.setdefault(url, []).append(r)
    return out


def examples_of(profile_id: str) -> list[dict[str, Any]]:
    return [copy.deepcopy(r) for r in _by_profile().get(CANONICAL + profile_id, [])]


def example(profile_id: str) -> dict[str, Any]:
    """A fresh copy of the main example of a profile (the one with the shortest id)."""
    found = examples_of(profile_id)
    assert found, f"no example for {profile_id}"
    return min(found, key=lambda r: (len(r.get("id", "")), r.get("id", "")))
