"""Writes profiles/input/fsh/measures.fsh from mappings/measures.yaml.

The monitoring's measures have one source, the YAML the adapter computes them from
(`adapter/monitoring`); the Measures are its FHIR publication, with the FNP goals on their groups
(extension voorzorg-measure-goal) so a dashboard draws goal lines from data.
`tests/monitoring/test_measure_definitions.py` fails when the committed FSH is not what this writes.
Run: .venv/bin/python profiles/scripts/measures_fsh.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "mappings" / "measures.yaml"
TARGET = ROOT / "profiles" / "input" / "fsh" / "measures.fsh"
BASE = "https://fhir.voorzorg.nl"
POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
IMPROVEMENT = "http://terminology.hl7.org/CodeSystem/measure-improvement-notation"
SCORING = "http://terminology.hl7.org/CodeSystem/measure-scoring"
#: The language of a population's criteria: the conditions of mappings/measures.yaml, as JSON.
CRITERIA_LANGUAGE = "text/x-voorzorg-measure-conditions"


def _q(text: str) -> str:
    return '"' + " ".join(str(text).split()).replace("\\", "\\\\").replace('"', '\\"') + '"'


GOAL = _q(
    "The FNP fidelity goal of a Measure group: its score should be at least (comparator ge) or at most (le) "
    "the target, a fraction (0.75 = 75 %). From mappings/measures.yaml; a dashboard draws its goal line "
    "from it."
)
GROUP_SCORING = _q(
    "How the group is scored (measure-scoring: proportion, cohort, continuous-variable); R4 has scoring on "
    "the Measure only, and the VoorZorg measures mix them."
)
SMALL = _q(
    "On a MeasureReport population's count for outside the organisation (audience external): the count "
    '(1-9) is absent, the primitive carries data-absent-reason masked and this text ("< 10"), the rule of '
    "mappings/measures.yaml."
)

EXTENSIONS = f"""Extension: VoorZorgMeasureGoalExtension
Id: voorzorg-measure-goal
Title: "Goal of a measure group"
Description: {GOAL}
* ^context.type = #element
* ^context.expression = "Measure.group"
* extension contains comparator 1..1 and target 1..1
* extension[comparator].value[x] only code
* extension[target].value[x] only decimal

Extension: VoorZorgMeasureGroupScoringExtension
Id: voorzorg-measure-group-scoring
Title: "Scoring of a measure group"
Description: {GROUP_SCORING}
* ^context.type = #element
* ^context.expression = "Measure.group"
* value[x] only code
* valueCode from http://hl7.org/fhir/ValueSet/measure-scoring (required)

Extension: VoorZorgSmallNumberExtension
Id: voorzorg-small-number
Title: "A count too small to show"
Description: {SMALL}
* ^context[0].type = #element
* ^context[0].expression = "MeasureReport.group.population.count"
* ^context[1].type = #element
* ^context[1].expression = "MeasureReport.group.stratifier.stratum.population.count"
* value[x] only string

Extension: VoorZorgReportAudienceExtension
Id: voorzorg-report-audience
Title: "For whom a MeasureReport is"
Description: "internal (exact counts) or external (counts of 1-9 masked, scores on them left out)."
* ^context.type = #element
* ^context.expression = "MeasureReport"
* value[x] only code
"""


def _quote(text: str) -> str:
    return _q(text)


def _name(measure_id: str) -> str:
    return "".join(part.title() for part in measure_id.split("-"))


def _group(mid: str, i: int, g: dict[str, Any]) -> list[str]:
    p = f"* group[{i}]"
    out = [
        f"{p}.code = {BASE}/Measure/{mid}#{g['code']}",
        f"{p}.code.text = {_quote(g['code'])}",
        f"{p}.description = {_quote(g.get('description', ''))}",
        f'{p}.extension[0].url = "{BASE}/StructureDefinition/voorzorg-measure-group-scoring"',
        f"{p}.extension[0].valueCode = #{g['scoring']}",
    ]
    if g.get("goal"):
        url = f"{BASE}/StructureDefinition/voorzorg-measure-goal"
        out += [
            f'{p}.extension[1].url = "{url}"',
            f'{p}.extension[1].extension[0].url = "comparator"',
            f"{p}.extension[1].extension[0].valueCode = #{g['goal']['comparator']}",
            f'{p}.extension[1].extension[1].url = "target"',
            f"{p}.extension[1].extension[1].valueDecimal = {g['goal']['value']}",
        ]
    for j, (code, conditions) in enumerate(g["populations"].items()):
        q = f"{p}.population[{j}]"
        out += [
            f"{q}.code = {POPULATION}#{code}",
            f"{q}.criteria.language = #{CRITERIA_LANGUAGE}",
            f"{q}.criteria.expression = {_quote(json.dumps(conditions or [], sort_keys=True))}",
        ]
        weight = (g.get("weights") or {}).get(code)
        if weight:
            out.append(f"{q}.description = {_quote(f'counts the sum of {weight} over its rows')}")
    for j, name in enumerate(g.get("stratifiers", [])):
        out.append(f"{p}.stratifier[{j}].code.text = {_quote(name)}")
    return out


def fsh(measures: dict[str, Any]) -> str:
    out = [
        "// GENERATED by profiles/scripts/measures_fsh.py from mappings/measures.yaml: do not edit.",
        "",
        EXTENSIONS,
    ]
    for mid, m in measures["measures"].items():
        scorings = {g["scoring"] for g in m["groups"]}
        out += [
            f"Instance: {mid}",
            "InstanceOf: Measure",
            "Usage: #definition",
            f'* url = "{BASE}/Measure/{mid}"',
            f'* name = "{_name(mid)}"',
            f"* title = {_quote(m['title'])}",
            "* status = #active",
            "* experimental = false",
            f"* description = {_quote(m['description'])}",
            f"* improvementNotation = {IMPROVEMENT}#{m['improvement']}",
        ]
        if len(scorings) == 1:
            out.append(f"* scoring = {SCORING}#{scorings.pop()}")
        for i, g in enumerate(m["groups"]):
            out += _group(mid, i, g)
        out.append("")
    return "\n".join(out)


def main() -> None:
    measures = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    TARGET.write_text(fsh(measures), encoding="utf-8")


if __name__ == "__main__":
    main()
