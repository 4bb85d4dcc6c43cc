"""Writes profiles/core/r4-core-definitions.json.gz: what the validator needs of the FHIR R4 core package.

Source: the npm package `hl7.fhir.r4.examples@4.0.1` that the profile build already installs
(`profiles/node_modules/`, by `profiles/scripts/setup-core.sh`; pinned in profiles/package-lock.json).
It holds every core StructureDefinition with its snapshot and the core ValueSets and CodeSystems.
The artefact keeps, compactly:

  * every StructureDefinition with a snapshot (resources, datatypes, core extensions and core
    profiles; not the logical models), each element reduced to what validation reads: id, path,
    min, max, base max, types (code, profile, targetProfile; a FHIRPath System type as the FHIR type
    it stands for), contentReference, required bindings,
    constraints (not ele-1 and ext-1, which the validator checks natively), fixed/pattern,
    min/max values, maxLength, slicing, sliceName, isModifier (when true); and of the definition: url, type,
    kind, derivation, baseDefinition, abstract, context;
  * every ValueSet that a kept element binds `required`, expanded to (system, codes) from the core
    CodeSystems (`concept` lists, whole complete CodeSystems, `is-a` filters, nested ValueSets,
    excludes). A ValueSet that cannot be expanded offline (UCUM, MIME types, time zones,
    currencies: external code systems) is left out; the validator then skips it, never guesses.

The output is deterministic (sorted keys, gzip without a timestamp): `--check` regenerates it in
memory and exits 1 when the committed file differs (tests/test_core_definitions.py runs that where
Node and npm are available). Run from the project root after `bash profiles/scripts/setup-core.sh`:

    .venv/bin/python profiles/scripts/core_definitions.py [--source DIR] [--check]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "profiles" / "node_modules" / "hl7.fhir.r4.examples"
TARGET = ROOT / "profiles" / "core" / "r4-core-definitions.json.gz"
PACKAGE = ("hl7.fhir.r4.examples", "4.0.1")

#: Checked natively by the validator on every element / extension: left out to keep the file small.
NATIVE_CONSTRAINTS = {"ele-1", "ext-1"}
_ELEMENT_KEYS = ("id", "path", "min", "max", "contentReference", "sliceName", "maxLength")
_VALUE_PREFIXES = ("fixed", "pattern", "minValue", "maxValue")
_SD_KEYS = ("url", "type", "kind", "derivation", "baseDefinition", "abstract", "context")


_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"


def _type(t: dict[str, Any]) -> dict[str, Any]:
    """code, profile, targetProfile; a FHIRPath System type (e.g. `Extension.url`) as the FHIR type it
    stands for (the structuredefinition-fhir-type extension: `uri`, `string`)."""
    out = {k: t[k] for k in ("code", "profile", "targetProfile") if k in t}
    for ext in t.get("extension", []):
        if ext.get("url") == _FHIR_TYPE and "valueUrl" in ext:
            out["code"] = ext["valueUrl"]
    return out


def _element(el: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: el[k] for k in _ELEMENT_KEYS if k in el}
    if el.get("isModifier"):
        out["isModifier"] = True
    if "base" in el:
        out["base"] = {"max": el["base"]["max"]}
    if el.get("type"):
        out["type"] = [_type(t) for t in el["type"]]
    binding = el.get("binding") or {}
    if binding.get("strength") == "required" and binding.get("valueSet"):
        out["binding"] = {"strength": "required", "valueSet": binding["valueSet"]}
    constraints = [
        {k: c[k] for k in ("key", "severity", "human", "expression") if k in c}
        for c in el.get("constraint", [])
        if c.get("key") not in NATIVE_CONSTRAINTS
    ]
    if constraints:
        out["constraint"] = constraints
    if "slicing" in el:
        out["slicing"] = {k: el["slicing"][k] for k in ("discriminator", "rules") if k in el["slicing"]}
    out.update({k: v for k, v in el.items() if k.startswith(_VALUE_PREFIXES)})
    return out


def _structure_definition(sd: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "StructureDefinition"}
    out.update({k: sd[k] for k in _SD_KEYS if k in sd})
    out["snapshot"] = {"element": [_element(el) for el in sd["snapshot"]["element"]]}
    return out


# ---- value sets ------------------------------------------------------------------------------------


class _Terminology:
    def __init__(self, valuesets: dict[str, dict[str, Any]], codesystems: dict[str, dict[str, Any]]):
        self.valuesets = valuesets
        self.codesystems = codesystems

    def _all_codes(self, system: str) -> dict[str, set[str]] | None:
        """code -> its ancestors (nested concepts and subsumedBy/parent properties); None: not here."""
        cs = self.codesystems.get(system)
        if cs is None or cs.get("content") != "complete":
            return None
        parents: dict[str, set[str]] = {}

        def walk(concepts: list[dict[str, Any]], parent: str | None) -> None:
            for c in concepts:
                ups = parents.setdefault(c["code"], set())
                if parent is not None:
                    ups.add(parent)
                for p in c.get("property", []):
                    if p.get("code") in ("subsumedBy", "parent") and "valueCode" in p:
                        ups.add(p["valueCode"])
                walk(c.get("concept", []), c["code"])

        walk(cs.get("concept", []), None)
        return parents

    def _is_a(self, parents: dict[str, set[str]], code: str, ancestor: str) -> bool:
        seen: set[str] = set()
        todo = [code]
        while todo:
            c = todo.pop()
            if c == ancestor:
                return True
            if c not in seen:
                seen.add(c)
                todo.extend(parents.get(c, ()))
        return False

    def _include(self, inc: dict[str, Any], seen: frozenset[str]) -> set[tuple[str, str]] | None:
        system = inc.get("system")
        members: set[tuple[str, str]] | None = None
        if system:
            if "concept" in inc and not inc.get("filter"):
                members = {(system, c["code"]) for c in inc["concept"]}
            else:
                members = self._from_system(system, inc.get("filter", []))
                if members is None:
                    return None
        for url in inc.get("valueSet", []):
            sub = self.expand(url, seen)
            if sub is None:
                return None
            members = set(sub) if members is None else members & sub
        return members or set()

    def _from_system(self, system: str, filters: list[dict[str, Any]]) -> set[tuple[str, str]] | None:
        parents = self._all_codes(system)
        if parents is None:
            return None
        codes = set(parents)
        for f in filters:
            if f.get("property") != "concept" or f.get("op") not in ("is-a", "descendent-of"):
                return None
            keep = {c for c in codes if self._is_a(parents, c, f["value"])}
            codes = keep - {f["value"]} if f["op"] == "descendent-of" else keep
        return {(system, c) for c in codes}

    def expand(self, url: str, seen: frozenset[str] = frozenset()) -> frozenset[tuple[str, str]] | None:
        url = url.split("|", 1)[0]
        vs = self.valuesets.get(url)
        if vs is None or url in seen:
            return None
        compose = vs.get("compose", {})
        out: set[tuple[str, str]] = set()
        for inc in compose.get("include", []):
            part = self._include(inc, seen | {url})
            if part is None:
                return None
            out |= part
        for exc in compose.get("exclude", []):
            part = self._include(exc, seen | {url})
            if part is None:
                return None
            out -= part
        return frozenset(out)


def _grouped(members: frozenset[tuple[str, str]]) -> list[list[str]]:
    """[[system, "code code ..."], ...], sorted."""
    by_system: dict[str, list[str]] = {}
    for system, code in members:
        by_system.setdefault(system, []).append(code)
    return [[s, " ".join(sorted(codes))] for s, codes in sorted(by_system.items())]


# ---- the artefact ----------------------------------------------------------------------------------


def _read(source: Path) -> list[dict[str, Any]]:
    if (source / "package" / "package.json").exists():
        source = source / "package"
    pkg = json.loads((source / "package.json").read_text(encoding="utf-8"))
    if (pkg.get("name"), pkg.get("version")) != PACKAGE:
        raise SystemExit(f"expected {PACKAGE[0]}@{PACKAGE[1]} in {source}, found {pkg.get('name')}")
    out = []
    for prefix in ("StructureDefinition", "ValueSet", "CodeSystem"):
        for path in sorted(source.glob(f"{prefix}-*.json")):
            out.append(json.loads(path.read_text(encoding="utf-8")))
    return out


def build(source: Path) -> dict[str, Any]:
    resources = _read(source)
    sds = [
        r
        for r in resources
        if r["resourceType"] == "StructureDefinition" and "snapshot" in r and r.get("kind") != "logical"
    ]
    terminology = _Terminology(
        {r["url"]: r for r in resources if r["resourceType"] == "ValueSet"},
        {r["url"]: r for r in resources if r["resourceType"] == "CodeSystem"},
    )
    required = sorted(
        {
            el["binding"]["valueSet"].split("|", 1)[0]
            for sd in sds
            for el in sd["snapshot"]["element"]
            if (el.get("binding") or {}).get("strength") == "required" and el["binding"].get("valueSet")
        }
    )
    expansions = {url: terminology.expand(url) for url in required}
    return {
        "source": f"{PACKAGE[0]}@{PACKAGE[1]}",
        "structureDefinitions": sorted((_structure_definition(sd) for sd in sds), key=lambda s: s["url"]),
        "valueSets": {url: _grouped(m) for url, m in expansions.items() if m is not None},
        "notExpanded": sorted(url for url, m in expansions.items() if m is None),
    }


def encode(artefact: dict[str, Any]) -> bytes:
    text = json.dumps(artefact, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--source", type=Path, default=SOURCE, help=f"the npm package folder (default {SOURCE})")
    p.add_argument("--target", type=Path, default=TARGET, help=f"the artefact (default {TARGET})")
    p.add_argument("--check", action="store_true", help="compare with the committed artefact, write nothing")
    a = p.parse_args(argv)
    fresh = build(a.source)
    if a.check:
        committed = json.loads(gzip.decompress(a.target.read_bytes())) if a.target.exists() else None
        if committed != fresh:
            print(
                f"{a.target} is OUT OF SYNC with {fresh['source']}; run: {Path(__file__).name}",
                file=sys.stderr,
            )
            return 1
        print(f"{a.target.name} is in sync with {fresh['source']}")
        return 0
    a.target.parent.mkdir(parents=True, exist_ok=True)
    a.target.write_bytes(encode(fresh))
    n_sd, n_vs = len(fresh["structureDefinitions"]), len(fresh["valueSets"])
    print(
        f"wrote {a.target} ({a.target.stat().st_size:,} bytes): {n_sd} StructureDefinitions, {n_vs} ValueSets"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
