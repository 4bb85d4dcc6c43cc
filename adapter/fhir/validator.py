"""Validation of FHIR R4 JSON against the R4 core definitions and the VoorZorg package, in pure Python.

API
    validate(resource, profile_url=None) -> list[Issue]
        Every issue at once (`adapter.fhir.outcome.Issue`: diagnostics, FHIRPath expression,
        IssueType code, severity). The resource is checked against its profiles: `profile_url`, else
        the `meta.profile` entries the validator knows (ours or R4 core); with none of them, against
        its R4 base definition. A profile's snapshot holds the base definition's rules, so either
        way every base rule is checked. A Bundle is checked as a Bundle (its rules across entries)
        and each entry's resource as a resource of its own (`Bundle.entry[i].resource...`), with
        references resolved inside the Bundle. An unknown `profile_url`: one error issue.
    validate_bundle(bundle) -> list[Issue]       the same, for a Bundle
    known_profiles() -> frozenset[str]           the profile URLs of our package
    can_validate(url) -> bool                    a resource profile or base definition we know
    has_errors(issues) -> bool                   any issue of severity error or fatal

What is checked, driven by StructureDefinition snapshots (`adapter.fhir.definitions`: ours and the R4
core ones from `profiles/core/`, compiled once per definition; no I/O after the first load):
  * cardinality min/max of every element, nested elements only when their parent is present; JSON
    shape (array vs single value, per the base cardinality); unknown elements; one choice type only,
    and only the allowed `valueX` names; where a snapshot does not unfold an element's datatype, the
    datatype's own core definition (its elements, cardinalities, bindings and invariants, e.g. per-1
    on every Period); a type with a profile (SimpleQuantity) against that profile;
  * primitive formats (the R4 regexes: boolean, integer, decimal, string, code, id — also a
    resource's id —, uri, date, dateTime, instant, time, ...; calendar-valid dates; 32-bit integers,
    unsignedInt ≥ 0, positiveInt ≥ 1); minValue/maxValue and maxLength; no empty elements (ele-1);
  * fixed[x] (equal) and pattern[x] (the instance contains the pattern, recursively);
  * bindings: required -> the code (code / Coding / CodeableConcept / Quantity) must be in the
    ValueSet; extensible -> a warning when codings are used and none is in the ValueSet (text only is
    fine). ValueSets: ours, and every core ValueSet a core element binds as required
    (`adapter.fhir.terminology`); a ValueSet that cannot be expanded offline is skipped, not guessed;
  * reference targets: `targetProfile` -> resource type, from `Type/id` (relative or absolute),
    `#id` (contained), `urn:uuid:` (the Bundle's fullUrls), or `Reference.type`;
  * slicing: discriminators `value`, `pattern`, `exists`, `type` (the item's type, or its resource's
    type) and `profile` (the item conforms to the slice's type profile); items are counted per slice
    against the slice's min/max and validated against the slice; closed slicing rejects the rest;
  * extensions: by url (or the slice's profile) against their definition, ours or core — their
    context (where they may be used), whether they are modifiers; an unknown modifierExtension is an
    error (what it changes cannot be known); any extension: url present, value xor nested
    extensions (ext-1), checked natively; extensions on primitives (`_birthDate`) too;
  * contained resources and `Resource` elements (Bundle.entry.resource, Parameters.parameter.resource)
    as resources of their own; dom-2, dom-3, dom-4, dom-5 natively;
  * Bundle rules (`adapter.fhir.bundle_rules`): bdl-1..bdl-12, fullUrl present and matching its
    resource, no resource id twice;
  * FHIRPath invariants of the snapshot and of every datatype (severity error/warning), with the
    right %context/%resource/%rootResource and choice types visible (`adapter.fhir.invariants`).
    Skipped: ele-1 and ext-1, dom-2..dom-5 and bdl-* (checked natively), dom-6 (narrative best
    practice: a warning on every resource without text, noise for a REST intake).
Not checked: terminology servers (SNOMED/LOINC codes only against the codes our ValueSets list;
core ValueSets bound only as extensible), profiles of referenced resources (only their type),
`contextInvariant`s of extensions, invariants that need `resolve()` (a warning says so).

Why our own code: tried PyPI `fhircraft` 0.9 (pydantic models built from our StructureDefinitions,
offline): it checks cardinality, fixed and pattern values, but accepted ServiceRequest.status
`draft` (required binding), subject -> Practitioner (reference target) and a BSN failing the
elfproef (invariant on a slice), and needs 2-4 s to build each profile's model. Medplum's
`validateResource` (see `profiles/crosscheck/RESULTS.md`) checks neither bindings nor reference
targets nor slice invariants, and is Node. fhir.resources checks only the base resource models.
So a library evaluates the FHIRPath invariants (fhirpathpy); the rest is this snapshot walker.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from adapter.fhir.bundle_rules import bundle_issues
from adapter.fhir.definitions import (
    Definition,
    Node,
    compile_definition,
    is_resource_type,
    own_profiles,
    structure_definitions,
    target_type,
    type_definition,
)
from adapter.fhir.invariants import Constraint, Env, holds
from adapter.fhir.outcome import Issue
from adapter.fhir.terminology import valueset_codes, valueset_members

__all__ = ["can_validate", "has_errors", "known_profiles", "validate", "validate_bundle"]

# ---- primitives (FHIR R4 spec regexes) ------------------------------------------------------------

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_TZ = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
#: ASCII: `\s` is what the spec's (Java) regexes mean by whitespace, so a no-break space is content.
_PRIMITIVE_RE: dict[str, re.Pattern[str]] = {
    k: re.compile(v, re.ASCII)
    for k, v in {
        "string": r"[ \r\n\t\S]+",
        "markdown": r"[ \r\n\t\S]+",
        "code": r"[^\s]+(\s[^\s]+)*",
        "id": r"[A-Za-z0-9\-\.]{1,64}",
        "uri": r"\S+",
        "url": r"\S+",
        "canonical": r"\S+",
        "oid": r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+",
        "uuid": r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "date": _YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?",
        "dateTime": _YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T" + _TIME + _TZ + r")?)?)?",
        "instant": _YEAR + r"-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T" + _TIME + _TZ,
        "time": _TIME,
        "base64Binary": r"(\s*([0-9a-zA-Z\+/=]){4}\s*)+",
        "xhtml": r"[\s\S]+",
        "http://hl7.org/fhirpath/System.String": r"[\s\S]+",
    }.items()
}
_INTEGER_TYPES = {"integer": -(2**31), "unsignedInt": 0, "positiveInt": 1}
_PRIMITIVES = frozenset({*_PRIMITIVE_RE, *_INTEGER_TYPES, "boolean", "decimal"})
_CODED = frozenset({"code", "string", "uri", "Coding", "CodeableConcept", "Quantity"})
_RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})
_REF_RE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-\.]{1,64}(?:/_history/[A-Za-z0-9\-\.]{1,64})?$")
_QUANTITIES = frozenset({"Age", "Count", "Distance", "Duration", "MoneyQuantity", "SimpleQuantity"})
_NOT_DOMAIN_RESOURCES = frozenset({"Bundle", "Parameters", "Binary"})


# ---- the walk's context -------------------------------------------------------------------------


@dataclass
class _Ctx:
    env: Env  # %resource and %rootResource
    bundle: dict[str, dict[str, Any]] | None  # fullUrl -> resource of the Bundle being validated
    issues: list[Issue]

    def add(self, diagnostics: str, expression: str, code: str, severity: str = "error") -> None:
        self.issues.append(Issue(diagnostics, (expression,), code, severity))


class _Host:
    """The object whose elements are being walked: where an extension on it is used."""

    __slots__ = ("_epath", "is_resource", "name", "parent", "tcode", "tpath", "url")

    def __init__(
        self,
        name: str,
        tpath: str,
        tcode: str,
        parent: _Host | None = None,
        url: str | None = None,
        is_resource: bool = False,
    ) -> None:
        self.parent = parent
        self.name = name  # the element's name (the resource type for a resource)
        self.tpath = tpath  # its path in the definition walked: "HumanName", "Patient.name"
        self.tcode = tcode  # its type: "HumanName", "Patient", "date", "Extension"
        self.url = url  # an extension's url
        self.is_resource = is_resource
        self._epath: str | None = None

    @property
    def epath(self) -> str:
        """Its element path in the resource: "Patient.name", "Patient.birthDate" (made when asked)."""
        if self._epath is None:
            self._epath = self.name if self.parent is None else f"{self.parent.epath}.{self.name}"
        return self._epath

    def child(self, node: Node, tcode: str, value: Any) -> _Host:
        url = value.get("url") if tcode == "Extension" and isinstance(value, dict) else None
        return _Host(node.name, node.content.path, tcode, self, url if isinstance(url, str) else None)


# ---- values ---------------------------------------------------------------------------------------


def _contains(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and _contains(v, value[k]) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(_contains(p, v) for v in items) for p in pattern)
    return bool(pattern == value and type(pattern) is type(value)) or (
        isinstance(pattern, int | float) and not isinstance(pattern, bool) and pattern == value
    )


def _at_path(value: Any, path: str) -> list[Any]:
    items = [value]
    for seg in path.split("."):
        nxt: list[Any] = []
        for it in items:
            if isinstance(it, dict) and seg in it:
                v = it[seg]
                nxt.extend(v if isinstance(v, list) else [v])
        items = nxt
    return items


def _check_primitive(tcode: str, value: Any, expr: str, ctx: _Ctx) -> bool:
    ok = True
    if tcode == "boolean":
        ok = isinstance(value, bool)
    elif tcode in _INTEGER_TYPES:
        ok = isinstance(value, int) and not isinstance(value, bool) and _INTEGER_TYPES[tcode] <= value < 2**31
    elif tcode == "decimal":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif tcode in _PRIMITIVE_RE:
        ok = isinstance(value, str) and _PRIMITIVE_RE[tcode].fullmatch(value) is not None
        if ok and tcode in ("date", "dateTime", "instant") and len(value) >= 10:
            try:
                _dt.date.fromisoformat(value[:10])
            except ValueError:
                ok = False
    if not ok:
        ctx.add(f"Not a valid {tcode}: {value!r}", expr, "value")
    return ok


def _comparable(value: Any) -> Any:
    """A number, a date/time text, or a Quantity's value: what minValue/maxValue compare."""
    if isinstance(value, dict):
        return value.get("value")
    return value


def _check_limits(node: Node, value: Any, expr: str, ctx: _Ctx) -> None:
    """maxLength, minValue[x] and maxValue[x] (numbers, dates and times, Quantity values)."""
    if node.max_length is not None and isinstance(value, str) and len(value) > node.max_length:
        ctx.add(f"{node.path} is at most {node.max_length} characters, found {len(value)}", expr, "value")
    for limit, below in ((node.min_value, True), (node.max_value, False)):
        if limit is None:
            continue
        a, b = _comparable(value), _comparable(limit)
        if isinstance(a, str) != isinstance(b, str) or a is None or b is None or isinstance(a, bool):
            continue
        if isinstance(a, str):
            a, b = a[: len(b)], b[: len(a)]  # dates: compared at their common precision
        if (below and a < b) or (not below and a > b):
            word = "minimum" if below else "maximum"
            ctx.add(f"{node.path}: {_comparable(value)!r} is beyond the {word} {b!r}", expr, "value")


# ---- bindings -------------------------------------------------------------------------------------


def _check_binding(node: Node, tcode: str, value: Any, expr: str, ctx: _Ctx) -> None:
    if node.binding is None or tcode not in _CODED:
        return
    strength, vs = node.binding
    members = valueset_members(vs)
    if members is None:
        return  # a ValueSet we cannot expand is skipped, not guessed
    if tcode in ("code", "string", "uri"):
        _check_bound_code(strength, vs, value, expr, ctx)
    elif isinstance(value, dict) and tcode in ("Coding", "Quantity"):
        _check_bound_coding(strength, vs, members, tcode, value, expr, ctx)
    elif isinstance(value, dict):
        _check_bound_concept(strength, vs, members, value, expr, ctx)


def _check_bound_code(strength: str, vs: str, value: Any, expr: str, ctx: _Ctx) -> None:
    """A plain code: only a required binding is checked (its ValueSet's codes, any system)."""
    codes = valueset_codes(vs) or frozenset()
    if isinstance(value, str) and value not in codes and strength == "required":
        ctx.add(f"Code {value!r} is not in the required ValueSet {vs}", expr, "code-invalid")


def _check_bound_coding(
    strength: str,
    vs: str,
    members: frozenset[tuple[str, str]],
    tcode: str,
    value: dict[str, Any],
    expr: str,
    ctx: _Ctx,
) -> None:
    """A Coding, or a Quantity with a code: its system and code must be a member."""
    if tcode == "Quantity" and "code" not in value:
        return
    if (value.get("system"), value.get("code")) not in members:
        ctx.add(
            f"{value.get('system')}#{value.get('code')} is not in the {strength} ValueSet {vs}",
            expr,
            "code-invalid",
            _binding_severity(strength),
        )


def _check_bound_concept(
    strength: str, vs: str, members: frozenset[tuple[str, str]], value: dict[str, Any], expr: str, ctx: _Ctx
) -> None:
    """A CodeableConcept: one member coding is enough; text only is fine for an extensible binding."""
    codings = [c for c in value.get("coding", []) if isinstance(c, dict)]
    if any((c.get("system"), c.get("code")) in members for c in codings):
        return
    if strength == "extensible" and not codings:
        return
    shown = ", ".join(f"{c.get('system')}#{c.get('code')}" for c in codings) or "no coding"
    ctx.add(
        f"None of the codings ({shown}) is in the {strength} ValueSet {vs}",
        expr,
        "code-invalid",
        _binding_severity(strength),
    )


def _binding_severity(strength: str) -> str:
    return "error" if strength == "required" else "warning"


# ---- references and invariants ------------------------------------------------------------------


def _check_reference(node: Node, value: dict[str, Any], expr: str, ctx: _Ctx) -> None:
    if node.targets is None:
        return
    ref = value.get("reference")
    rtype: str | None = None
    if isinstance(ref, str):
        resolves, rtype = _referenced_type(ref, expr, ctx)
        if not resolves:
            return
    if rtype is None and isinstance(value.get("type"), str):
        rtype = value["type"]
    if rtype is not None and rtype not in node.targets:
        allowed = " or ".join(sorted(node.targets))
        ctx.add(f"Reference to a {rtype}, but {node.path} may only refer to {allowed}", expr, "invalid")


def _referenced_type(ref: str, expr: str, ctx: _Ctx) -> tuple[bool, str | None]:
    """(whether the reference can be followed, the type of what it points at when that is known).

    A reference that cannot be followed (a missing contained resource, a `urn:` that is no entry of
    the Bundle) is reported here; a `urn:` outside a Bundle is not checked at all."""
    if ref.startswith("#"):
        contained = ctx.env.root.get("contained")
        found = [
            c
            for c in (contained if isinstance(contained, list) else [])
            if isinstance(c, dict) and c.get("id") == ref[1:]
        ]
        if not found and ref != "#":
            ctx.add(f"Contained resource {ref} not found", expr + ".reference", "invalid")
            return False, None
        return True, (found[0] if found else ctx.env.root).get("resourceType")
    if ctx.bundle is not None and ref in ctx.bundle:
        return True, ctx.bundle[ref].get("resourceType")
    if ref.startswith("urn:"):
        if ctx.bundle is not None:
            ctx.add(f"Reference {ref} does not resolve within the Bundle", expr + ".reference", "invalid")
        return False, None
    m = _REF_RE.search(ref)
    return True, m.group(1) if m else None


def _constraints_of(node: Node, tcode: str) -> list[tuple[Constraint, str]]:
    """(invariant, FHIRPath type) of the element, and of its datatype's own definition (per-1 ...)."""
    out: list[tuple[Constraint, str]] | None = node.memo.get(("constraints", tcode))
    if out is None:
        out = [(c, node.fhirpath_type) for c in node.constraints]
        definition = _datatype(node, tcode)
        if definition is not None and definition.root is not node:
            own = {c.key for c in node.constraints}
            out += [
                (c, definition.root.fhirpath_type) for c in definition.root.constraints if c.key not in own
            ]
        node.memo[("constraints", tcode)] = out
    return out


def _check_constraints(checks: list[tuple[Constraint, str]], value: Any, expr: str, ctx: _Ctx) -> None:
    for c, type_path in checks:
        try:
            ok = holds(c, value, type_path, ctx.env)
        except Exception as exc:  # an expression fhirpathpy cannot evaluate: say so, don't crash
            ctx.add(f"Invariant {c.key} could not be evaluated: {exc}", expr, "invariant", "warning")
            continue
        if not ok:
            ctx.add(f"Invariant {c.key} failed: {c.human}", expr, "invariant", c.severity)


# ---- extensions -----------------------------------------------------------------------------------


def _check_extension(node: Node, value: dict[str, Any], expr: str, ctx: _Ctx, host: _Host) -> None:
    """One extension (or modifierExtension) on `host`: against its definition, where it is allowed."""
    url = value.get("url")
    if not isinstance(url, str) or not url:
        ctx.add("Extension without url", expr, "required")
        return
    definition = compile_definition(node.ext_profiles[0] if node.ext_profiles else url)
    own = host.child(node, "Extension", value)
    if definition is None or definition.type != "Extension":
        if node.name == "modifierExtension":
            ctx.add(
                f"Unknown modifier extension {url}: what it changes cannot be known, so the resource "
                "cannot be accepted",
                expr,
                "extension",
            )
        base = type_definition("Extension")
        if base is not None:
            _walk_object(base.root, value, expr, ctx, own)
        _check_ext_1(value, expr, ctx)
        return
    _check_extension_use(definition, node.name == "modifierExtension", expr, ctx, host)
    _walk_object(definition.root, value, expr, ctx, own)
    _check_constraints(_constraints_of(definition.root, "Extension"), value, expr, ctx)
    _check_ext_1(value, expr, ctx)


def _check_ext_1(value: dict[str, Any], expr: str, ctx: _Ctx) -> None:
    has_value = any(k.startswith("value") for k in value)
    if has_value == bool(value.get("extension")):
        ctx.add("An extension has either a value or nested extensions (ext-1)", expr, "invariant")


def _check_extension_use(
    definition: Definition, as_modifier: bool, expr: str, ctx: _Ctx, host: _Host
) -> None:
    if as_modifier and not definition.is_modifier:
        ctx.add(f"{definition.url} is not a modifier extension: use extension", expr, "extension")
    elif definition.is_modifier and not as_modifier:
        ctx.add(f"{definition.url} is a modifier extension: use modifierExtension", expr, "extension")
    if definition.context and not any(_in_context(t, e, host) for t, e in definition.context):
        allowed = ", ".join(e for _, e in definition.context)
        ctx.add(
            f"Extension {definition.url} is not allowed on {host.epath} (allowed on: {allowed})",
            expr,
            "extension",
        )


def _in_context(ctype: str, expression: str, host: _Host) -> bool:
    """Whether an extension whose context is (ctype, expression) may be used on `host`."""
    if ctype == "fhirpath":
        return True  # not checked
    if ctype == "extension":
        return host.url == expression
    if expression in ("Element", "Base") or expression in (host.epath, host.tpath, host.tcode):
        return True
    if host.is_resource:
        return expression == "Resource" or (
            expression == "DomainResource" and host.tcode not in _NOT_DOMAIN_RESOURCES
        )
    return expression == "Quantity" and host.tcode in _QUANTITIES


# ---- walking an instance --------------------------------------------------------------------------


def _datatype(node: Node, tcode: str) -> Definition | None:
    """The definition of the element's datatype: its profile (SimpleQuantity), else the core type."""
    if tcode in _PRIMITIVES or tcode in _RESOURCE_TYPES or tcode == "BackboneElement":
        return None
    for profile in node.type_profiles.get(tcode, ()):
        definition = compile_definition(profile)
        if definition is not None:
            return definition
    return type_definition(tcode)


@dataclass(frozen=True)
class _Plan:
    """What to check on an item of one element with one type (made once per element and type)."""

    primitive: bool
    resource: bool
    values: bool  # fixed, pattern, min/max value, maxLength or a binding to check
    checks: list[tuple[Constraint, str]]


def _plan(node: Node, tcode: str) -> _Plan:
    plan: _Plan | None = node.memo.get(tcode)
    if plan is None:
        resource = tcode in _RESOURCE_TYPES or is_resource_type(tcode)
        limits = (node.max_length, node.min_value, node.max_value)
        plan = _Plan(
            primitive=tcode in _PRIMITIVES,
            resource=resource,
            values=node.fixed is not None
            or node.pattern is not None
            or any(x is not None for x in limits)
            or (node.binding is not None and tcode in _CODED),
            checks=[] if resource else _constraints_of(node, tcode),
        )
        node.memo[tcode] = plan
    return plan


def _validate_item(node: Node, tcode: str, value: Any, expr: str, ctx: _Ctx, parent: _Host) -> None:
    if value is None or (not value and isinstance(value, dict | list | str)):
        ctx.add("Empty element (ele-1: elements have a value or children)", expr, "structure")
        return
    plan = _plan(node, tcode)
    if plan.primitive:
        if not _check_primitive(tcode, value, expr, ctx):
            return
    elif not isinstance(value, dict):
        ctx.add(f"Expected a JSON object ({tcode})", expr, "structure")
        return
    if plan.values:
        _check_values(node, tcode, value, expr, ctx)
    if plan.resource:
        _validate_nested_resource(node, value, expr, ctx)
        return
    if not plan.primitive:
        _validate_inside(node, tcode, value, expr, ctx, parent)
    if plan.checks:
        _check_constraints(plan.checks, value, expr, ctx)


def _check_values(node: Node, tcode: str, value: Any, expr: str, ctx: _Ctx) -> None:
    if node.fixed is not None and value != node.fixed:
        ctx.add(f"Value must be exactly {node.fixed!r}", expr, "value")
    elif node.pattern is not None and not _contains(node.pattern, value):
        ctx.add(f"Value must contain the pattern {node.pattern!r}", expr, "value")
    _check_limits(node, value, expr, ctx)
    _check_binding(node, tcode, value, expr, ctx)


def _validate_inside(
    node: Node, tcode: str, value: dict[str, Any], expr: str, ctx: _Ctx, parent: _Host
) -> None:
    """The inside of an object: the elements the snapshot unfolds, else its type's own definition."""
    if tcode == "Extension" and not node.content.children:
        _check_extension(node, value, expr, ctx, parent)
        return
    own = parent.child(node, tcode, value)
    if node.content.children:
        _walk_object(node.content, value, expr, ctx, own)
    else:
        definition = _datatype(node, tcode)
        if definition is not None:
            _walk_object(definition.root, value, expr, ctx, own)
    if tcode == "Reference":
        _check_reference(node, value, expr, ctx)


def _validate_nested_resource(node: Node, value: dict[str, Any], expr: str, ctx: _Ctx) -> None:
    """A contained resource (its container is %rootResource), or a Bundle entry's or a Parameters'
    resource (a resource of its own): against the profile the element demands of it, else its own."""
    demanded: list[str | None] = [
        p for t in node.types for p in node.type_profiles.get(t, ()) if can_validate(p)
    ]
    container = ctx.env.resource if node.name == "contained" else None
    for profile in demanded or [None]:
        _validate_resource(value, profile, expr, ctx.bundle, ctx.issues, container=container)


def _check_count(node: Node, count: int, expr: str, ctx: _Ctx, what: str) -> None:
    if count < node.min:
        ctx.add(f"{what}: minimum required = {node.min}, found {count}", expr, "required")
    if node.max is not None and count > node.max:
        ctx.add(f"{what}: maximum allowed = {node.max}, found {count}", expr, "structure")


def _unknown_key(node: Node, key: str) -> str:
    for child in node.children.values():
        label = child.label
        if (
            child.name.endswith("[x]")
            and key.startswith(label)
            and key[len(label) : len(label) + 1].isupper()
        ):
            allowed = ", ".join(child.types) or "none"
            return f"{key}: type {key[len(label) :]} is not allowed for {child.path} (allowed: {allowed})"
    return f"Unknown element '{key}' in {node.path}"


#: (FHIRPath of the item, its type code, its JSON value)
_Item = tuple[str, str, Any]


def _walk_object(node: Node, obj: dict[str, Any], expr: str, ctx: _Ctx, host: _Host) -> None:
    node = node.content
    found, extras = _values_by_child(node, obj, expr, ctx)
    names = found.keys() | node.required
    for name in sorted(names, key=node.order.__getitem__) if len(names) > 1 else names:
        child = node.children[name]
        entries = found.get(name, [])
        items = _items_of(child, entries, expr, ctx)
        label = entries[0][0] if len(entries) == 1 else child.label
        if len(items) < child.min or (child.max is not None and len(items) > child.max):
            _check_count(child, len(items), f"{expr}.{label}", ctx, child.path)
        items = [i for i in items if i[2] is not None or i[0] not in _extended(obj, entries, expr)]
        if child.slices:
            _validate_sliced(child, items, f"{expr}.{label}", ctx, host)
        else:
            for item_expr, tcode, value in items:
                _validate_item(child, tcode, value, item_expr, ctx, host)
    for key, value in extras:
        _validate_primitive_extras(node.keys[key[1:]], value, f"{expr}.{key[1:]}", ctx, host)


def _extended(obj: dict[str, Any], entries: list[_Item], expr: str) -> set[str]:
    """Items of a primitive that carry only extensions: `"given": [null]` with `"_given": [{...}]` (FHIR
    JSON puts a primitive's extensions in `_name`, aligned by position; the value may then be null)."""
    out: set[str] = set()
    for key, _tcode, _value in entries:
        companion = obj.get(f"_{key}")
        if isinstance(companion, list):
            out |= {f"{expr}.{key}[{i}]" for i, c in enumerate(companion) if isinstance(c, dict) and c}
        elif isinstance(companion, dict) and companion:
            out.add(f"{expr}.{key}")
    return out


def _values_by_child(
    node: Node, obj: dict[str, Any], expr: str, ctx: _Ctx
) -> tuple[dict[str, list[_Item]], list[tuple[str, Any]]]:
    """child name -> [(JSON key, type code, value)] of the object's keys, and the primitives' `_key`s;
    unknown keys are reported."""
    found: dict[str, list[_Item]] = {}
    extras: list[tuple[str, Any]] = []
    keys = node.keys
    for key, value in obj.items():
        hit = keys.get(key)
        if hit is not None:
            found.setdefault(hit[0].name, []).append((key, hit[1], value))
        elif _is_primitive_extension(node, key):
            extras.append((key, value))
        elif key != "resourceType" or "." in node.path:
            ctx.add(_unknown_key(node, key), f"{expr}.{key}", "structure")
    return found, extras


def _is_primitive_extension(node: Node, key: str) -> bool:
    """`_birthDate` and the like: the extensions or id of a primitive element."""
    if not key.startswith("_"):
        return False
    primitive = node.keys.get(key[1:])
    return primitive is not None and primitive[1] in _PRIMITIVES


def _validate_primitive_extras(hit: tuple[Node, str], value: Any, expr: str, ctx: _Ctx, host: _Host) -> None:
    """`_birthDate: {"id", "extension"}` (or a list of them, `null` where an item has none): walked as an
    Element, its extensions used on the primitive element."""
    child, tcode = hit
    element = type_definition("Element")
    if element is None:
        return
    own = host.child(child, tcode, value)
    items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
    for i, item in items:
        at = expr if i is None else f"{expr}[{i}]"
        if item is None and i is not None:
            continue
        if not isinstance(item, dict) or not item:
            ctx.add("Expected a JSON object with id or extension (a primitive's extensions)", at, "structure")
            continue
        _walk_object(element.root, item, at, ctx, own)


def _items_of(child: Node, entries: list[_Item], expr: str, ctx: _Ctx) -> list[_Item]:
    """The child's values one by one, each with its FHIRPath; one choice type and the JSON shape checked."""
    if len(entries) > 1:
        names = ", ".join(k for k, _, _ in entries)
        ctx.add(
            f"Only one type of {child.path} is allowed, found {names}", f"{expr}.{child.label}", "structure"
        )
    items: list[_Item] = []
    for key, tcode, value in entries:
        if isinstance(value, list):
            if not child.is_array:
                ctx.add(
                    f"{child.path} is not repeating: a single value, not an array",
                    f"{expr}.{key}",
                    "structure",
                )
            items.extend((f"{expr}.{key}[{i}]", tcode, v) for i, v in enumerate(value))
        elif child.is_array:
            ctx.add(f"{child.path} must be a JSON array", f"{expr}.{key}", "structure")
            items.append((f"{expr}.{key}[0]", tcode, value))
        else:
            items.append((f"{expr}.{key}", tcode, value))
    return items


# ---- slicing --------------------------------------------------------------------------------------


def _validate_sliced(child: Node, items: list[_Item], expr: str, ctx: _Ctx, host: _Host) -> None:
    """Each item against the slice it matches (or the element, unmatched); then the count per slice."""
    per_slice: dict[str, int] = {s.slice_name or "": 0 for s in child.slices}
    for item_expr, tcode, value in items:
        sl = next((s for s in child.slices if _slice_matches(child, s, tcode, value, ctx)), None)
        if sl is None:
            if child.slice_rules == "closed":
                ctx.add(
                    f"No slice of {child.path} matches this item (closed slicing)", item_expr, "structure"
                )
            _validate_item(child, tcode, value, item_expr, ctx, host)
            continue
        per_slice[sl.slice_name or ""] += 1
        _validate_item(sl, tcode, value, item_expr, ctx, host)
    for sl in child.slices:
        _check_count(sl, per_slice[sl.slice_name or ""], expr, ctx, f"{child.path}:{sl.slice_name}")


def _slice_matches(parent: Node, sl: Node, tcode: str, item: Any, ctx: _Ctx) -> bool:
    """Whether an item belongs to a slice: every discriminator of the slicing holds."""
    if not parent.discriminators:
        return False
    return all(
        _discriminator_holds(dtype, path, sl, tcode, item, ctx) for dtype, path in parent.discriminators
    )


def _discriminator_holds(dtype: str, path: str, sl: Node, tcode: str, item: Any, ctx: _Ctx) -> bool:
    if dtype in ("value", "pattern"):
        return _value_discriminator(path, sl, item)
    target = _node_at(sl, path)
    if target is None:
        return False
    found = [item] if path == "$this" else _at_path(item, path)
    if dtype == "exists":
        return bool(found) if target.min > 0 else not found if target.max == 0 else True
    if dtype == "type":
        allowed = _allowed_types(target)
        return bool(found) and all(_type_of(v, tcode if path == "$this" else None) in allowed for v in found)
    if dtype == "profile":
        profiles = _profiles_of(target)
        return bool(found) and bool(profiles) and all(_conforms_to_any(profiles, v, ctx) for v in found)
    return False  # e.g. a discriminator path with resolve(): not supported, the item is unmatched


def _value_discriminator(path: str, sl: Node, item: Any) -> bool:
    if path == "url" and sl.ext_profiles:
        expected: Any = sl.ext_profiles[0]
        use_pattern = False
    else:
        target = _node_at(sl, path)
        if target is None:
            return False
        expected = target.fixed if target.fixed is not None else target.pattern
        use_pattern = target.fixed is None
        if expected is None:
            return False
    found = [item] if path == "$this" else _at_path(item, path)
    return any((_contains(expected, v) if use_pattern else expected == v) for v in found)


def _node_at(sl: Node, path: str) -> Node | None:
    if path == "$this":
        return sl
    target: Node | None = sl
    for seg in path.split("."):
        target = target.content.children.get(seg) if target is not None else None
    return target


def _allowed_types(node: Node) -> frozenset[str]:
    """The types an element's slice admits; a Resource element's profiles name resource types."""
    out: set[str] = set()
    for t in node.types:
        profiles = node.type_profiles.get(t, ())
        if t in _RESOURCE_TYPES and profiles:
            out.update(target_type(p) for p in profiles)
        else:
            out.add(t)
    return frozenset(out)


def _type_of(value: Any, tcode: str | None) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        return str(value["resourceType"])
    return tcode


def _profiles_of(node: Node) -> tuple[str, ...]:
    return node.ext_profiles or tuple(p for t in node.types for p in node.type_profiles.get(t, ()))


def _conforms_to_any(profiles: tuple[str, ...], value: Any, ctx: _Ctx) -> bool:
    """Whether the value meets one of the profiles without errors (a `profile` discriminator)."""
    for url in profiles:
        definition = compile_definition(url)
        if definition is None or not isinstance(value, dict):
            continue
        scratch = _Ctx(ctx.env, ctx.bundle, [])
        if definition.kind == "resource":
            _validate_resource(value, url, "x", ctx.bundle, scratch.issues)
        else:
            host = _Host(definition.type, definition.type, definition.type)
            _walk_object(definition.root, value, "x", scratch, host)
            _check_constraints(_constraints_of(definition.root, definition.type), value, "x", scratch)
        if not has_errors(scratch.issues):
            return True
    return False


# ---- resources ------------------------------------------------------------------------------------


def _check_contained(resource: dict[str, Any], expr: str, ctx: _Ctx) -> None:
    """dom-2, dom-3, dom-4 and dom-5, natively (only when the resource has contained resources)."""
    contained = resource.get("contained")
    if not isinstance(contained, list):
        return
    referenced = _local_references(resource)
    for i, c in enumerate(contained):
        if isinstance(c, dict):
            _check_one_contained(c, c.get("id") in referenced, f"{expr}.contained[{i}]", ctx)


def _local_references(resource: dict[str, Any]) -> set[str]:
    """The ids that `#id` references, canonicals and uris point at (dom-3 reads them all: a Questionnaire's
    `answerValueSet: "#length"` refers to a contained ValueSet), from the resource and its contained ones."""
    ids: set[str] = set()
    todo: list[Any] = [resource]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
        elif isinstance(value, str) and value.startswith("#"):
            ids.add(value[1:])
    return ids


def _check_one_contained(c: dict[str, Any], referenced: bool, expr: str, ctx: _Ctx) -> None:
    if "contained" in c:
        ctx.add("A contained resource has no contained resources (dom-2)", expr, "invariant")
    meta = c.get("meta") or {}
    if isinstance(meta, dict) and ("versionId" in meta or "lastUpdated" in meta):
        ctx.add("A contained resource has no meta.versionId or meta.lastUpdated (dom-4)", expr, "invariant")
    if isinstance(meta, dict) and "security" in meta:
        ctx.add("A contained resource has no security labels (dom-5)", expr, "invariant")
    if not referenced:
        ctx.add(
            "A contained resource is referenced from elsewhere in the resource (dom-3)", expr, "invariant"
        )


def _validate_resource(
    resource: Any,
    profile_url: str | None,
    expr: str | None,
    bundle: dict[str, dict[str, Any]] | None,
    issues: list[Issue],
    container: dict[str, Any] | None = None,
) -> None:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        issues.append(Issue("Not a FHIR resource (no resourceType)", (expr or "Resource",), "structure"))
        return
    rtype = resource["resourceType"]
    expr = expr or rtype
    if not is_resource_type(rtype):
        issues.append(
            Issue(f"{rtype!r} is not a FHIR R4 resource type", (f"{expr}.resourceType",), "structure")
        )
        return
    if rtype == "Bundle":
        bundle = _bundle_index(resource)
        issues += [Issue(d, (e,), c) for d, e, c in bundle_issues(resource, expr)]
    ctx = _Ctx(Env(resource, container or resource), bundle, issues)
    host = _Host(rtype, rtype, rtype, is_resource=True)
    for definition in _definitions_for(resource, profile_url, expr, ctx):
        _walk_object(definition.root, resource, expr, ctx, host)
        _check_constraints(_constraints_of(definition.root, rtype), resource, expr, ctx)
    if container is None:
        _check_contained(resource, expr, ctx)


def _definitions_for(
    resource: dict[str, Any], profile_url: str | None, expr: str, ctx: _Ctx
) -> list[Definition]:
    """The profiles to walk (`profile_url`, else the declared known ones); the base definition when
    none of them is a profile of the resource's type."""
    rtype = resource["resourceType"]
    urls = [profile_url] if profile_url is not None else _declared_profiles(resource)
    out: list[Definition] = []
    for url in urls:
        definition = compile_definition(url)
        if definition is None or definition.kind != "resource":
            ctx.add(f"Unknown profile {url}", expr, "invalid")
        elif definition.type != rtype:
            ctx.add(f"Profile {url} is for {definition.type}, not {rtype}", expr, "invalid")
        else:
            out.append(definition)
    base = type_definition(rtype)
    return out or ([base] if base is not None else [])


def _declared_profiles(resource: dict[str, Any]) -> list[str]:
    """The resource's meta.profile entries (without version) that the validator knows."""
    meta = resource.get("meta")
    declared = meta.get("profile", []) if isinstance(meta, dict) else []
    urls = [u.split("|", 1)[0] for u in declared if isinstance(u, str)] if isinstance(declared, list) else []
    return [u for u in urls if can_validate(u)]


def _bundle_index(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    entries = bundle.get("entry")
    index: dict[str, dict[str, Any]] = {}
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and isinstance(e.get("fullUrl"), str) and isinstance(e.get("resource"), dict):
            index[e["fullUrl"]] = e["resource"]
    return index


def _dedupe(issues: Iterable[Issue]) -> list[Issue]:
    return list(dict.fromkeys(issues))


def known_profiles() -> frozenset[str]:
    """URLs of the resource profiles (not extensions) of our package."""
    return own_profiles()


def can_validate(url: str) -> bool:
    """A resource profile or base resource definition the validator knows (ours or R4 core)."""
    sd = structure_definitions().get(url.split("|", 1)[0])
    return sd is not None and sd.get("kind") == "resource" and not sd.get("abstract", False)


def validate(resource: dict[str, Any], profile_url: str | None = None) -> list[Issue]:
    """Every issue of `resource` against `profile_url` (default: its known meta.profile entries, else its
    base definition). Pure: no I/O after the first call loads the definitions."""
    issues: list[Issue] = []
    if profile_url is not None and not can_validate(profile_url):
        return [
            Issue(
                f"Unknown profile {profile_url}", (str(resource.get("resourceType", "Resource")),), "invalid"
            )
        ]
    _validate_resource(resource, profile_url and profile_url.split("|", 1)[0], None, None, issues)
    return _dedupe(issues)


def validate_bundle(bundle: dict[str, Any]) -> list[Issue]:
    """Every issue of a Bundle: its own rules, and every entry's resource against its definitions."""
    return validate(bundle)


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(i.severity in ("error", "fatal") for i in issues)
