"""The committed FHIR conformance package in profiles/fsh-generated/ (built by SUSHI from
profiles/input/fsh; see profiles/README.md).

Pure Python: no network, no Node. Whether the committed JSON matches a fresh build is checked
by `bash profiles/scripts/check-sync.sh` (needs Node); these tests check the content itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models
from hypothesis import given, settings
from hypothesis import strategies as st

PROFILES = Path(__file__).resolve().parent.parent / "profiles"
RESOURCES = PROFILES / "fsh-generated" / "resources"
CANONICAL = "https://fhir.voorzorg.nl"
BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"
CONFORMANCE_TYPES = {"CodeSystem", "ValueSet", "StructureDefinition", "NamingSystem"}

EXPECTED_CODES: dict[str, set[str]] = {
    "voorzorg-referral-item": {
        "voorzorg-referral",
        "very-vulnerable-situation",
        "serious-parenting-problems",
        "forced-framework",
        "voorzorg-consult-request",
        "home-visit",
    },
    "voorzorg-track": {
        "voorzorg",
        "voorzorg-2",
        "late-start",
        "consult",
        "not-eligible",
        "incomplete",
        "voorzorg-verder",
    },
    "voorzorg-decision-reason": {
        "not-very-vulnerable",
        "child-older-than-6-weeks",
        "forced-framework",
        "late-start-plus-2",
        "outside-criteria",
        "nurse-not-trained",
        "age-over-25",
        "missing-data",
    },
    "voorzorg-evidence": {"proven-effective", "under-research"},
    "voorzorg-theme": {
        "ouderschap",
        "hechting",
        "opvoedvaardigheden",
        "gezondheid",
        "veiligheid",
        "persoonlijke-ontwikkeling",
        "financiele-stabiliteit",
        "relatie-partner-familie",
        "gemeenschapsvoorzieningen",
    },
    "voorzorg-theme-assessment": {"no-concern", "attention-needed", "concern", "acute-concern"},
}

# profile id -> base resource type
EXPECTED_PROFILES = {
    "voorzorg-client": "Patient",
    "voorzorg-referral": "ServiceRequest",
    "voorzorg-referral-task": "Task",
    "voorzorg-consult-task": "Task",
    "voorzorg-consult-request": "ServiceRequest",
    "voorzorg-pregnancy": "Observation",
    "voorzorg-estimated-delivery-date": "Observation",
    "voorzorg-pregnancy-duration": "Observation",
    "voorzorg-parity": "Observation",
    "voorzorg-gravidity": "Observation",
    "voorzorg-delivery-date": "Observation",
    "voorzorg-last-menstruation-date": "Observation",
    "voorzorg-situation": "Observation",
    "voorzorg-voluntary-participation": "Consent",
    "voorzorg-eligibility-decision": "GuidanceResponse",
    "voorzorg-careplan": "CarePlan",
    "voorzorg-home-visit": "Encounter",
    "voorzorg-theme-observation": "Observation",
    "voorzorg-theme-goal": "Goal",
}


# ---- loading -------------------------------------------------------------------------------


@cache
def all_resources() -> dict[str, dict[str, Any]]:
    """Every generated JSON file, by file name."""
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(RESOURCES.glob("*.json"))}


def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in all_resources().values() if r["resourceType"] == resource_type}


def examples() -> dict[str, dict[str, Any]]:
    return {n: r for n, r in all_resources().items() if r["resourceType"] not in CONFORMANCE_TYPES}


def own_codesystems() -> dict[str, dict[str, Any]]:
    """Own CodeSystems by canonical URL."""
    return {cs["url"]: cs for cs in of_type("CodeSystem").values() if cs["url"].startswith(CANONICAL)}


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a resource, depth first (contained and Bundle entries included)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def elfproef(bsn: str) -> bool:
    """The BSN check (independent Python version of the `bsn-elfproef` invariant)."""
    if not re.fullmatch(r"[0-9]{9}", bsn) or bsn == "000000000":
        return False
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(int(d) * w for d, w in zip(bsn, weights, strict=True)) % 11 == 0


@cache
def constraint(key: str) -> tuple[str, str]:
    """(element id, FHIRPath expression) of an own invariant, from the generated snapshots."""
    for sd in of_type("StructureDefinition").values():
        for element in sd.get("snapshot", {}).get("element", []):
            for c in element.get("constraint", []):
                if c["key"] == key:
                    return element["id"], c["expression"]
    raise LookupError(key)


@cache
def compiled(expression: str) -> Any:
    return fhirpath_compile(expression, models["r4"])


def holds(expression: str, node: dict[str, Any]) -> bool:
    return bool(compiled(expression)(node) == [True])


# ---- the package ---------------------------------------------------------------------------


def test_sushi_config_names_the_package() -> None:
    config = yaml.safe_load((PROFILES / "sushi-config.yaml").read_text(encoding="utf-8"))
    assert config["id"] == "voorzorg.fhir.r4"
    assert config["canonical"] == CANONICAL
    assert config["fhirVersion"] == "4.0.1"
    assert config["FSHOnly"] is True


def test_every_generated_file_parses_and_is_named_after_its_resource() -> None:
    files = sorted(RESOURCES.glob("*.json"))
    assert files, f"no generated resources in {RESOURCES}"
    for path in files:
        resource = json.loads(path.read_text(encoding="utf-8"))
        assert path.name == f"{resource['resourceType']}-{resource['id']}.json"


def test_conformance_resources_have_canonical_urls_under_the_base() -> None:
    for name, r in all_resources().items():
        if r["resourceType"] in {"CodeSystem", "ValueSet", "StructureDefinition"}:
            assert r["url"] == f"{CANONICAL}/{r['resourceType']}/{r['id']}", name
            assert r.get("version") == "0.1.0", name
            assert r.get("status") == "draft", name


# ---- terminology ---------------------------------------------------------------------------


@pytest.mark.parametrize("cs_id", sorted(EXPECTED_CODES))
def test_expected_codesystem_and_codes(cs_id: str) -> None:
    path = RESOURCES / f"CodeSystem-{cs_id}.json"
    assert path.exists(), f"the adapter loads {path.relative_to(PROFILES.parent)}"
    cs = json.loads(path.read_text(encoding="utf-8"))
    assert cs["url"] == f"{CANONICAL}/CodeSystem/{cs_id}"
    assert cs["caseSensitive"] is True
    assert cs["content"] == "complete"
    codes = [c["code"] for c in cs["concept"]]
    assert len(codes) == len(set(codes)), "duplicate codes"
    # The contract only ever adds codes: every expected code must stay.
    missing = EXPECTED_CODES[cs_id] - set(codes)
    assert not missing, f"{cs_id} lacks {sorted(missing)}"
    for concept in cs["concept"]:
        assert concept.get("display"), concept["code"]
        assert concept.get("definition"), concept["code"]
        english = [d for d in concept.get("designation", []) if d.get("language") == "en"]
        assert english and english[0].get("value"), f"{cs_id}#{concept['code']} has no English designation"


def test_theme_assessment_is_an_ordinal_scale_0_to_3() -> None:
    cs = of_type("CodeSystem")["voorzorg-theme-assessment"]
    ordinal = {
        c["code"]: p["valueInteger"]
        for c in cs["concept"]
        for p in c.get("property", [])
        if p["code"] == "ordinalValue"
    }
    assert ordinal == {"no-concern": 0, "attention-needed": 1, "concern": 2, "acute-concern": 3}


def valueset_codes(vs: dict[str, Any]) -> set[tuple[str, str]]:
    """(system, code) pairs a ValueSet's compose includes; a whole own system is enumerated."""
    result: set[tuple[str, str]] = set()
    for include in vs["compose"]["include"]:
        system = include["system"]
        if "concept" in include:
            result |= {(system, c["code"]) for c in include["concept"]}
        else:
            cs = own_codesystems().get(system)
            assert cs is not None, f"{vs['id']} includes all of {system}, which is not in the package"
            result |= {(system, c["code"]) for c in cs["concept"]}
    return result


@pytest.mark.parametrize("cs_id", sorted(EXPECTED_CODES))
def test_each_codesystem_has_a_valueset_with_all_its_codes(cs_id: str) -> None:
    path = RESOURCES / f"ValueSet-{cs_id}.json"
    assert path.exists(), f"the adapter loads {path.relative_to(PROFILES.parent)}"
    vs = json.loads(path.read_text(encoding="utf-8"))
    cs = of_type("CodeSystem")[cs_id]
    assert valueset_codes(vs) == {(cs["url"], c["code"]) for c in cs["concept"]}


def test_intake_track_valueset_is_every_track_but_voorzorg_verder() -> None:
    vs = of_type("ValueSet")["voorzorg-intake-track"]
    system = f"{CANONICAL}/CodeSystem/voorzorg-track"
    assert valueset_codes(vs) == {
        (system, c) for c in ("voorzorg", "voorzorg-2", "late-start", "consult", "not-eligible", "incomplete")
    }


def test_valuesets_only_name_codes_their_own_codesystems_define() -> None:
    for vs in of_type("ValueSet").values():
        for system, code in valueset_codes(vs):
            if system in own_codesystems():
                defined = {c["code"] for c in own_codesystems()[system]["concept"]}
                assert code in defined, f"ValueSet {vs['id']}: {system}#{code} is not defined"


@pytest.mark.parametrize(
    ("ns_id", "uri"),
    [
        ("bsn", "http://fhir.nl/fhir/NamingSystem/bsn"),
        ("agb-z", "http://fhir.nl/fhir/NamingSystem/agb-z"),
        ("ura", "http://fhir.nl/fhir/NamingSystem/ura"),
    ],
)
def test_naming_systems(ns_id: str, uri: str) -> None:
    ns = of_type("NamingSystem")[ns_id]
    assert ns["kind"] == "identifier"
    assert {"type": "uri", "value": uri, "preferred": True}.items() <= ns["uniqueId"][0].items()


# ---- profiles ------------------------------------------------------------------------------


def test_every_structuredefinition_has_a_snapshot() -> None:
    sds = of_type("StructureDefinition")
    assert sds
    for sd_id, sd in sds.items():
        elements = sd.get("snapshot", {}).get("element", [])
        assert elements, f"{sd_id} has no snapshot"
        assert elements[0]["path"] == sd["type"], sd_id
        # The snapshot holds every differential element.
        snapshot_ids = {e["id"] for e in elements}
        for e in sd["differential"]["element"]:
            assert e["id"] in snapshot_ids, f"{sd_id}: {e['id']} missing from the snapshot"


@pytest.mark.parametrize(("profile_id", "base"), sorted(EXPECTED_PROFILES.items()))
def test_expected_profile_exists_and_has_an_example(profile_id: str, base: str) -> None:
    sd = of_type("StructureDefinition").get(profile_id)
    assert sd is not None, f"profile {profile_id} missing"
    assert sd["kind"] == "resource" and sd["derivation"] == "constraint"
    assert sd["type"] == base
    users = [
        r
        for r in examples().values()
        if r["resourceType"] == base and sd["url"] in r.get("meta", {}).get("profile", [])
    ]
    assert users, f"no example instance of {profile_id}"


def test_references_in_examples_resolve() -> None:
    present = {f"{r['resourceType']}/{r['id']}" for r in examples().values()}
    for name, resource in examples().items():
        if resource["resourceType"] == "Bundle":
            continue  # checked by test_referral_bundle_references_resolve_within_the_bundle
        for node in walk(resource):
            ref = node.get("reference")
            if isinstance(ref, str) and not ref.startswith("#"):
                assert ref in present, f"{name}: {ref} does not resolve to an example"


# ---- codes in the examples -----------------------------------------------------------------


def test_own_codes_used_in_examples_exist_with_their_display() -> None:
    own = own_codesystems()
    seen = 0
    for name, resource in all_resources().items():
        if resource["resourceType"] in {"CodeSystem", "ValueSet"}:
            continue
        for node in walk(resource):
            system = node.get("system")
            if not (isinstance(system, str) and system.startswith(f"{CANONICAL}/CodeSystem/")):
                continue
            assert system in own, f"{name}: unknown own code system {system}"
            concepts = {c["code"]: c for c in own[system]["concept"]}
            code = node.get("code")
            assert code in concepts, f"{name}: {system}#{code} is not defined"
            if "display" in node:
                known = {concepts[code]["display"]} | {
                    d["value"] for d in concepts[code].get("designation", [])
                }
                assert node["display"] in known, f"{name}: wrong display {node['display']!r} for {code}"
            seen += 1
    assert seen > 20  # the examples do use own codes


def codes_at(node: Any) -> Iterator[tuple[str | None, str]]:
    """(system, code) of a code, Coding or CodeableConcept value."""
    if isinstance(node, str):
        yield None, node
    elif isinstance(node, dict):
        if "coding" in node:
            for coding in node["coding"]:
                yield coding.get("system"), coding["code"]
        elif "code" in node:
            yield node.get("system"), node["code"]


def values_at(resource: dict[str, Any], path: str) -> list[Any]:
    """Values at an element path (no slices); a choice element [x] matches each typed name."""
    nodes: list[Any] = [resource]
    for part in path.split(".")[1:]:
        found: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if part.endswith("[x]"):
                keys = [k for k in node if k.startswith(part[:-3]) and k[len(part) - 3 :][:1].isupper()]
            else:
                keys = [part] if part in node else []
            for key in keys:
                value = node[key]
                found.extend(value if isinstance(value, list) else [value])
        nodes = found
    return nodes


def instances_of(sd: dict[str, Any]) -> list[dict[str, Any]]:
    """Examples claiming the profile, standalone and inside Bundles."""
    result = []
    for resource in examples().values():
        for node in walk(resource):
            if (
                sd["url"] in node.get("meta", {}).get("profile", [])
                and node.get("resourceType") == sd["type"]
            ):
                result.append(node)
    return result


def test_examples_meet_the_required_bindings_to_own_valuesets() -> None:
    valuesets = {vs["url"]: vs for vs in of_type("ValueSet").values()}
    checked = 0
    for sd in of_type("StructureDefinition").values():
        if sd["type"] == "Extension":
            continue
        for element in sd["snapshot"]["element"]:
            binding = element.get("binding", {})
            vs_url = binding.get("valueSet", "")
            if ":" in element["id"] or binding.get("strength") != "required" or vs_url not in valuesets:
                continue
            allowed = valueset_codes(valuesets[vs_url])
            for instance in instances_of(sd):
                for value in values_at(instance, element["path"]):
                    pairs = list(codes_at(value))
                    ok = [
                        (s, c)
                        for s, c in pairs
                        if (s, c) in allowed or (s is None and c in {code for _, code in allowed})
                    ]
                    assert ok, f"{sd['id']} {element['path']}: {pairs} not in {vs_url}"
                    checked += 1
    assert checked > 20


# ---- invariants ----------------------------------------------------------------------------


def test_bsn_invariant_sits_on_the_bsn_slice() -> None:
    element_id, _ = constraint("bsn-elfproef")
    assert element_id == "Patient.identifier:bsn"


@pytest.mark.parametrize("bsn", ["999911120", "999912021", "111222333", "123456782"])
def test_bsn_invariant_accepts_valid_numbers(bsn: str) -> None:
    _, expression = constraint("bsn-elfproef")
    assert elfproef(bsn)
    assert holds(expression, {"system": BSN_SYSTEM, "value": bsn})


@pytest.mark.parametrize(
    "bsn", ["999911121", "000000000", "99991112", "9999111200", "99991112O", " 99911120", "123456789"]
)
def test_bsn_invariant_rejects_invalid_numbers(bsn: str) -> None:
    _, expression = constraint("bsn-elfproef")
    assert not elfproef(bsn)
    assert not holds(expression, {"system": BSN_SYSTEM, "value": bsn})


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"\A[0-9]{9}\Z"))
def test_bsn_invariant_agrees_with_the_python_elfproef(bsn: str) -> None:
    _, expression = constraint("bsn-elfproef")
    assert holds(expression, {"system": BSN_SYSTEM, "value": bsn}) == elfproef(bsn)


def test_example_clients_have_a_valid_bsn() -> None:
    _, expression = constraint("bsn-elfproef")
    client = of_type("StructureDefinition")["voorzorg-client"]
    patients = instances_of(client)
    assert len(patients) >= 3  # two standalone, one in the Bundle
    for patient in patients:
        bsns = [i for i in patient["identifier"] if i.get("system") == BSN_SYSTEM]
        assert len(bsns) == 1
        assert elfproef(bsns[0]["value"])
        assert holds(expression, bsns[0])


def root_invariants() -> list[tuple[str, dict[str, Any], str, str]]:
    """(profile id, profile, key, expression) of own invariants on a profile's root element."""
    result = []
    for sd in of_type("StructureDefinition").values():
        root = sd["snapshot"]["element"][0]
        for c in root.get("constraint", []):
            if c.get("source", "").startswith(CANONICAL) or c["key"].startswith("vz-"):
                result.append((sd["id"], sd, c["key"], c["expression"]))
    return result


def test_own_root_invariants_hold_on_the_examples() -> None:
    checked = 0
    for profile_id, sd, key, expression in root_invariants():
        for instance in instances_of(sd):
            assert holds(expression, instance), f"{profile_id}: {key} fails on {instance.get('id')}"
            checked += 1
    assert checked >= 5


def test_task_invariant_requires_a_reason_to_reject() -> None:
    _, expression = constraint("vz-task-1")
    task = {"resourceType": "Task", "status": "rejected", "intent": "order"}
    assert not holds(expression, task)
    assert holds(expression, {**task, "statusReason": {"text": "not a very vulnerable situation"}})


def test_decision_invariant_requires_missing_items_when_incomplete() -> None:
    _, expression = constraint("vz-decision-1")
    incomplete = of_type("GuidanceResponse")["example-eligibility-decision-incomplete"]
    assert holds(expression, incomplete)
    stripped = {
        **incomplete,
        "extension": [e for e in incomplete["extension"] if not e["url"].endswith("/voorzorg-missing-item")],
    }
    assert not holds(expression, stripped)


def test_count_invariant_rejects_a_negative_parity() -> None:
    _, expression = constraint("vz-count-1")
    assert holds(expression, {"resourceType": "Observation", "valueInteger": 0})
    assert not holds(expression, {"resourceType": "Observation", "valueInteger": -1})


# ---- the referral Bundle -------------------------------------------------------------------


def test_referral_bundle_carries_the_contract() -> None:
    bundle = of_type("Bundle")["example-referral-bundle"]
    assert bundle["type"] == "transaction"
    by_profile: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert entry["request"]["method"] in {"POST", "PUT"}
        resource = entry["resource"]
        assert entry["request"]["url"].split("?")[0] == resource["resourceType"]
        for profile in resource.get("meta", {}).get("profile", []):
            by_profile.setdefault(profile.rsplit("/", 1)[-1], []).append(resource)
    for needed in (
        "voorzorg-client",
        "voorzorg-referral",
        "voorzorg-estimated-delivery-date",
        "voorzorg-parity",
        "voorzorg-situation",
        "voorzorg-voluntary-participation",
        "voorzorg-referral-task",
    ):
        assert needed in by_profile, f"the referral Bundle has no {needed}"
    situations = {r["code"]["coding"][0]["code"] for r in by_profile["voorzorg-situation"]}
    assert situations == {"very-vulnerable-situation", "serious-parenting-problems", "forced-framework"}
    referral = by_profile["voorzorg-referral"][0]
    assert referral["authoredOn"] and referral["identifier"][0]["value"]


def test_referral_bundle_references_resolve_within_the_bundle() -> None:
    bundle = of_type("Bundle")["example-referral-bundle"]
    full_urls = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    refs = 0
    for entry in bundle["entry"]:
        for node in walk(entry["resource"]):
            ref = node.get("reference")
            if isinstance(ref, str):
                assert ref in full_urls, f"{entry['fullUrl']}: {ref} is not an entry of the Bundle"
                refs += 1
    assert refs >= 10
    referral = next(r for r in full_urls.values() if r["resourceType"] == "ServiceRequest")
    assert full_urls[referral["subject"]["reference"]]["resourceType"] == "Patient"
    assert {full_urls[s["reference"]]["resourceType"] for s in referral["supportingInfo"]} == {
        "Observation",
        "Consent",
    }
