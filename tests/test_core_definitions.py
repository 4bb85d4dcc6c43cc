"""The R4 core definitions the validator loads (profiles/core/): complete, and what the script derives from
the npm package the profile build installs."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from adapter.config import PROJECT_ROOT
from adapter.data import CORE_DEFINITIONS, core_definitions
from adapter.fhir.definitions import CORE_SD, is_resource_type, type_definition

SCRIPTS = PROJECT_ROOT / "profiles" / "scripts"


def test_the_artefact_is_committed_and_holds_r4() -> None:
    assert CORE_DEFINITIONS.is_relative_to(PROJECT_ROOT / "profiles" / "core") and CORE_DEFINITIONS.exists()
    core = core_definitions()
    assert core["source"] == "hl7.fhir.r4.examples@4.0.1"
    by_url = {sd["url"]: sd for sd in core["structureDefinitions"]}
    kinds = [sd["kind"] for sd in core["structureDefinitions"] if sd.get("derivation") == "specialization"]
    assert kinds.count("resource") == 147  # the 146 resource types of R4 and DomainResource
    assert kinds.count("complex-type") >= 35 and kinds.count("primitive-type") == 20
    for name in ("Patient", "Bundle", "Period", "Extension", "Reference", "bodyweight", "patient-birthTime"):
        assert CORE_SD + name in by_url, name
    assert is_resource_type("Encounter") and not is_resource_type("Period")
    period = type_definition("Period")
    assert period is not None and [c.key for c in period.root.constraints] == ["per-1"]


def test_every_required_binding_is_expanded_or_says_why_not() -> None:
    core = core_definitions()
    bound = {
        el["binding"]["valueSet"].split("|")[0]
        for sd in core["structureDefinitions"]
        for el in sd["snapshot"]["element"]
        if "binding" in el
    }
    assert bound == set(core["valueSets"]) | set(core["notExpanded"])
    assert set(core["notExpanded"]) <= {
        "http://hl7.org/fhir/ValueSet/currencies",  # ISO 4217
        "http://hl7.org/fhir/ValueSet/mimetypes",  # BCP 13
        "http://hl7.org/fhir/ValueSet/timezones",  # IANA
        "http://hl7.org/fhir/ValueSet/ucum-units",  # UCUM
        "http://loinc.org/vs/LL379-9",  # a LOINC answer list
    }
    gender = core["valueSets"]["http://hl7.org/fhir/ValueSet/administrative-gender"]
    assert gender == [["http://hl7.org/fhir/administrative-gender", "female male other unknown"]]


@pytest.mark.node
def test_the_artefact_is_what_the_script_derives_from_the_npm_package() -> None:
    """What CI checks on a fresh clone: npm installs hl7.fhir.r4.examples@4.0.1 (profiles/package-lock.json),
    the script derives the artefact again, and it equals the committed one."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js/npm not installed: the core definitions check needs the npm package")
    setup = subprocess.run(
        ["bash", str(SCRIPTS / "setup-core.sh")], capture_output=True, text=True, timeout=600, check=False
    )
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-2000:]
    check = subprocess.run(
        [sys.executable, str(SCRIPTS / "core_definitions.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
