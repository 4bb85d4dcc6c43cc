"""Profile validation of FHIR R4 JSON against the VoorZorg package (`profiles/`), in pure Python.

API
    validate(resource, profile_url=None) -> list[Issue]
        Every issue at once (`adapter.fhir.outcome.Issue`: diagnostics, FHIRPath expression,
        IssueType code, severity). `profile_url=None`: the resource's `meta.profile` entries that
        the package defines (none known: no issues, nothing to check). A Bundle without a profile
        is validated entry by entry (`Bundle.entry[i].resource...`), references resolved inside it.
        An unknown `profile_url`: one error issue.
    validate_bundle(bundle) -> list[Issue]       the same, explicitly for a Bundle
    known_profiles() -> frozenset[str]           the profile URLs we can validate against
    has_errors(issues) -> bool                   any issue of severity error or fatal

What is checked, driven by the StructureDefinition snapshots of our package (compiled once per
profile and cached; no I/O after the first load; no Node, no ~/.fhir):
  * cardinality min/max of every element in the snapshot, nested elements only when their parent is
    present; JSON shape (array vs single value, per the base cardinality); unknown elements where the
    snapshot lists the children (the resource, backbone elements, unfolded datatypes); one choice
    type only, and only the allowed `valueX` names for `value[x]`;
  * primitive formats (regexes of the R4 spec for boolean, integer, decimal, string, code, id, uri,
    date, dateTime, instant, time, ...; calendar-valid dates); no empty elements (what ele-1 says);
  * fixed[x] (equal) and pattern[x] (the instance contains the pattern, recursively);
  * bindings: required -> the code (code / Coding / CodeableConcept / Quantity) must be in the
    ValueSet; extensible -> a warning when codings are used and none is in the ValueSet (text only is
    fine). ValueSets come from our package (`adapter.fhir.terminology`) plus the core R4 ValueSets our
    snapshots bind as required (copied there); a ValueSet we cannot expand is skipped, not guessed;
  * reference targets: `targetProfile` -> resource type, from `Type/id` (relative or absolute),
    `#id` (contained), `urn:uuid:` (the Bundle's fullUrls), or `Reference.type`. The referenced
    resource's conformance to the target *profile* is not checked (only its type);
  * slicing (discriminator value/pattern on a path, e.g. Patient.identifier by system; extensions by
    url): items are counted per slice against the slice's min/max and validated against the slice;
    closed slicing rejects unmatched items;
  * extensions of our package (by url, or the slice's type profile) against their own snapshot;
    any extension: url present and value xor nested extensions (ext-1, done natively);
  * FHIRPath invariants of the snapshot (severity error/warning) with fhirpathpy, model r4, on each
    instance of the element (`%resource` = the resource). An invariant fails on an explicit false;
    an empty result does not fail (what is missing is reported by cardinality instead).
    Skipped: ele-1 and ext-1 (checked natively, much faster than fhirpathpy's children()), dom-2,
    dom-3, dom-4, dom-5 (checked natively, only when `contained` is present; dom-3's descendants()
    expression is slow in fhirpathpy), dom-6 (narrative best practice: a warning on every resource
    without text, noise for a REST intake).
Not checked: the inside of datatypes the profile does not unfold (e.g. HumanName parts), bindings of
core ValueSets not bound as required in our snapshots, terminology servers (SNOMED/LOINC codes are
checked only against the codes our ValueSets list), profiles of referenced resources, `contained`
resources without one of our profiles (shape only), Bundle-level rules (no Bundle profile here).

Why our own code: tried PyPI `fhircraft` 0.9 (pydantic models built from our StructureDefinitions,
offline): it checks cardinality, fixed and pattern values, but accepted ServiceRequest.status
`draft` (required binding), subject -> Practitioner (reference target) and a BSN failing the
elfproef (invariant on a slice), and needs 2-4 s to build each profile's model. Medplum's
`validateResource` (see `profiles/crosscheck/RESULTS.md`) checks neither bindings nor reference
targets nor slice invariants, and is Node. fhir.resources checks only the base resource models.
So a library evaluates the FHIRPath invariants (fhirpathpy); the rest is this small snapshot
walker, which only needs the package's own snapshots.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhirpathpy import compile as _fhirpath_compile
from fhirpathpy.models import models as _fhirpath_models

from adapter.data import conformance_resources
from adapter.fhir.outcome import Issue
from adapter.fhir.references import walk_references
from adapter.fhir.terminology import valueset_codes, valueset_members

__all__ = ["has_errors", "known_profiles", "validate", "validate_bundle"]

# ---- primitives (FHIR R4 spec regexes) ------------------------------------------------------------

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_TZ = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_PRIMITIVE_RE: dict[str, re.Pattern[str]] = {
    k: re.compile(v)
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
_REF_RE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-\.]{1,64}(?:/_history/[A-Za-z0-9\-\.]{1,64})?$")
_CORE_SD = "http://hl7.org/fhir/StructureDefinition/"
#: Constraints not evaluated with fhirpathpy (see the module docstring).
SKIPPED_CONSTRAINTS = frozenset({"ele-1", "ext-1", "dom-2", "dom-3", "dom-4", "dom-5", "dom-6"})


# ---- the compiled profile ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Constraint:
    key: str
    severity: str
    human: str
    fn: Callable[..., Any]


@dataclass
class _Node:
    path: str
    name: str  # last path segment, e.g. "identifier", "value[x]"
    min: int
    max: int | None  # None: unbounded
    is_array: bool
    types: tuple[str, ...]
    targets: frozenset[str] | None = None  # Reference target resource types; None: any
    ext_profiles: tuple[str, ...] = ()
    fixed: Any = None
    pattern: Any = None
    binding: tuple[str, str] | None = None  # (strength, ValueSet URL)
    constraints: list[_Constraint] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)
    slice_name: str | None = None
    discriminators: tuple[tuple[str, str], ...] = ()
    slice_rules: str = "open"
    slices: list[_Node] = field(default_factory=list)
    keys: dict[str, tuple[_Node, str]] = field(default_factory=dict)  # JSON key -> (child, type)

    @property
    def label(self) -> str:
        return self.name[:-3] if self.name.endswith("[x]") else self.name


@dataclass(frozen=True)
class _Profile:
    url: str
    type: str
    root: _Node


@cache
def _structure_definitions() -> dict[str, dict[str, Any]]:
    return {
        r["url"]: r
        for r in conformance_resources()
        if r.get("resourceType") == "StructureDefinition" and "snapshot" in r
    }


def known_profiles() -> frozenset[str]:
    """URLs of the resource profiles (not extensions) of our package."""
    return frozenset(u for u, sd in _structure_definitions().items() if sd.get("type") != "Extension")


def _target_type(profile: str) -> str:
    sd = _structure_definitions().get(profile)
    if sd is not None:
        return str(sd["type"])
    return profile.rsplit("/", 1)[-1]


def _split_id(element_id: str) -> list[str]:
    return element_id.split(".")


@cache
def _compiled_fhirpath(expression: str) -> Callable[..., Any]:
    fn: Callable[..., Any] = _fhirpath_compile(expression, _fhirpath_models["r4"])
    return fn


def _node(el: dict[str, Any], name: str) -> _Node:
    max_ = el.get("max", "*")
    fixed, pattern = _fixed_and_pattern(el)
    node = _Node(
        path=el["path"],
        name=name,
        min=int(el.get("min", 0)),
        max=None if max_ == "*" else int(max_),
        is_array=_repeats_in_base(el),
        types=tuple(t["code"] for t in el.get("type", [])),
        targets=_reference_targets(el),
        ext_profiles=_extension_profiles(el),
        fixed=fixed,
        pattern=pattern,
        binding=_checked_binding(el),
        constraints=_evaluated_constraints(el),
        slice_name=el.get("sliceName"),
    )
    slicing = el.get("slicing")
    if slicing:
        node.discriminators = tuple((d["type"], d["path"]) for d in slicing.get("discriminator", []))
        node.slice_rules = slicing.get("rules", "open")
    return node


def _repeats_in_base(el: dict[str, Any]) -> bool:
    """A JSON array or a single value: the base element's cardinality decides, not the profile's."""
    base_max = el.get("base", {}).get("max", el.get("max", "*"))
    return base_max not in {"1", "0"}


def _reference_targets(el: dict[str, Any]) -> frozenset[str] | None:
    """The resource types a Reference element may point at; None: any (or not a Reference)."""
    references = [t for t in el.get("type", []) if t["code"] == "Reference"]
    if not references:
        return None
    targets: set[str] = set()
    for t in references:
        profiles = t.get("targetProfile", [])
        if not profiles or _CORE_SD + "Resource" in profiles:
            return None
        targets.update(_target_type(tp) for tp in profiles)
    return frozenset(targets)


def _extension_profiles(el: dict[str, Any]) -> tuple[str, ...]:
    return tuple(p for t in el.get("type", []) if t["code"] == "Extension" for p in t.get("profile", []))


def _fixed_and_pattern(el: dict[str, Any]) -> tuple[Any, Any]:
    fixed = pattern = None
    for k, v in el.items():
        if k.startswith("fixed"):
            fixed = v
        elif k.startswith("pattern"):
            pattern = v
    return fixed, pattern


def _checked_binding(el: dict[str, Any]) -> tuple[str, str] | None:
    """(strength, ValueSet URL) of a required or extensible binding; weaker ones are not checked."""
    b = el.get("binding")
    if b and b.get("valueSet") and b.get("strength") in ("required", "extensible"):
        return b["strength"], b["valueSet"].split("|", 1)[0]
    return None


def _evaluated_constraints(el: dict[str, Any]) -> list[_Constraint]:
    """The element's invariants evaluated with fhirpathpy (not the ones checked natively)."""
    return [
        _Constraint(
            c["key"], c.get("severity", "error"), c.get("human", ""), _compiled_fhirpath(c["expression"])
        )
        for c in el.get("constraint", [])
        if c["key"] not in SKIPPED_CONSTRAINTS and c.get("expression")
    ]


def _index_keys(node: _Node) -> None:
    for child in node.children.values():
        if child.name.endswith("[x]"):
            for t in child.types:
                node.keys[child.label + t[0].upper() + t[1:]] = (child, t)
        else:
            node.keys[child.name] = (child, child.types[0] if child.types else "BackboneElement")
        _index_keys(child)
    for s in node.slices:
        _index_keys(s)


@cache
def _compile(url: str) -> _Profile | None:
    sd = _structure_definitions().get(url)
    if sd is None:
        return None
    by_id: dict[str, _Node] = {}
    root: _Node | None = None
    for el in sd["snapshot"]["element"]:
        segs = _split_id(el["id"])
        last = segs[-1]
        name, _, slice_name = last.partition(":")
        node = _node(el, name)
        by_id[el["id"]] = node
        if len(segs) == 1:
            if slice_name:
                continue
            root = node
            continue
        if slice_name:
            parent_key = ".".join([*segs[:-1], name])
            by_id[parent_key].slices.append(node)
        else:
            by_id[".".join(segs[:-1])].children[name] = node
    if root is None:
        return None
    _index_keys(root)
    return _Profile(url, str(sd["type"]), root)


# ---- walking an instance -------------------------------------------------------------------------


@dataclass
class _Ctx:
    resource: dict[str, Any]
    bundle: dict[str, dict[str, Any]] | None
    issues: list[Issue]

    def add(self, diagnostics: str, expression: str, code: str, severity: str = "error") -> None:
        self.issues.append(Issue(diagnostics, (expression,), code, severity))


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


def _slice_matches(parent: _Node, sl: _Node, item: Any) -> bool:
    if not parent.discriminators:
        return False
    for dtype, path in parent.discriminators:
        if dtype not in ("value", "pattern"):
            return False
        if path == "url" and sl.ext_profiles:
            expected: Any = sl.ext_profiles[0]
            use_pattern = False
        else:
            target: _Node | None = sl
            for seg in path.split("."):
                target = target.children.get(seg) if target is not None else None
            if target is None:
                return False
            expected = target.fixed if target.fixed is not None else target.pattern
            use_pattern = target.fixed is None
            if expected is None:
                return False
        found = _at_path(item, path)
        if not any((_contains(expected, v) if use_pattern else expected == v) for v in found):
            return False
    return True


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


def _check_binding(node: _Node, tcode: str, value: Any, expr: str, ctx: _Ctx) -> None:
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


def _check_reference(node: _Node, value: dict[str, Any], expr: str, ctx: _Ctx) -> None:
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
        found = [
            c for c in ctx.resource.get("contained", []) if isinstance(c, dict) and c.get("id") == ref[1:]
        ]
        if not found and ref != "#":
            ctx.add(f"Contained resource {ref} not found", expr + ".reference", "invalid")
            return False, None
        return True, (found[0] if found else ctx.resource).get("resourceType")
    if ctx.bundle is not None and ref in ctx.bundle:
        return True, ctx.bundle[ref].get("resourceType")
    if ref.startswith("urn:"):
        if ctx.bundle is not None:
            ctx.add(f"Reference {ref} does not resolve within the Bundle", expr + ".reference", "invalid")
        return False, None
    m = _REF_RE.search(ref)
    return True, m.group(1) if m else None


def _check_constraints(node: _Node, value: Any, expr: str, ctx: _Ctx) -> None:
    for c in node.constraints:
        try:
            result = c.fn(value, {"resource": ctx.resource, "rootResource": ctx.resource})
        except Exception as exc:  # an expression fhirpathpy cannot evaluate: say so, don't crash
            ctx.add(f"Invariant {c.key} could not be evaluated: {exc}", expr, "invariant", "warning")
            continue
        if result == [False]:
            ctx.add(f"Invariant {c.key} failed: {c.human}", expr, "invariant", c.severity)


def _check_extension(node: _Node, value: dict[str, Any], expr: str, ctx: _Ctx) -> None:
    url = value.get("url")
    if not isinstance(url, str) or not url:
        ctx.add("Extension without url", expr, "required")
        return
    profile = _compile(node.ext_profiles[0]) if node.ext_profiles else None
    if profile is None:
        profile = _compile(url)
    if profile is not None and profile.type == "Extension":
        _walk_object(profile.root, value, expr, ctx)
        return
    has_value = any(k.startswith("value") for k in value)
    if has_value == bool(value.get("extension")):
        ctx.add("An extension has either a value or nested extensions (ext-1)", expr, "invariant")


def _validate_item(node: _Node, tcode: str, value: Any, expr: str, ctx: _Ctx) -> None:
    if value in (None, {}, [], ""):
        ctx.add("Empty element (ele-1: elements have a value or children)", expr, "structure")
        return
    if not _has_type_shape(tcode, value, expr, ctx):
        return
    if node.fixed is not None and value != node.fixed:
        ctx.add(f"Value must be exactly {node.fixed!r}", expr, "value")
    elif node.pattern is not None and not _contains(node.pattern, value):
        ctx.add(f"Value must contain the pattern {node.pattern!r}", expr, "value")
    _check_binding(node, tcode, value, expr, ctx)
    if isinstance(value, dict):
        _validate_inside(node, tcode, value, expr, ctx)
    _check_constraints(node, value, expr, ctx)


def _has_type_shape(tcode: str, value: Any, expr: str, ctx: _Ctx) -> bool:
    """A primitive in its format, anything else a JSON object; reported when not."""
    if tcode in _PRIMITIVES:
        return _check_primitive(tcode, value, expr, ctx)
    if not isinstance(value, dict):
        ctx.add(f"Expected a JSON object ({tcode})", expr, "structure")
        return False
    return True


def _validate_inside(node: _Node, tcode: str, value: dict[str, Any], expr: str, ctx: _Ctx) -> None:
    """The inside of an object: the elements the profile unfolds, else what its type itself requires."""
    if node.children:
        _walk_object(node, value, expr, ctx)
    elif tcode == "Extension":
        _check_extension(node, value, expr, ctx)
    elif tcode == "Resource":
        _validate_resource(value, None, expr, ctx.bundle, ctx.issues, contained_in=ctx.resource)
    if tcode == "Reference":
        _check_reference(node, value, expr, ctx)


def _check_count(node: _Node, count: int, expr: str, ctx: _Ctx, what: str) -> None:
    if count < node.min:
        ctx.add(f"{what}: minimum required = {node.min}, found {count}", expr, "required")
    if node.max is not None and count > node.max:
        ctx.add(f"{what}: maximum allowed = {node.max}, found {count}", expr, "structure")


def _unknown_key(node: _Node, key: str) -> str:
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


def _walk_object(node: _Node, obj: dict[str, Any], expr: str, ctx: _Ctx) -> None:
    found = _values_by_child(node, obj, expr, ctx)
    for child in node.children.values():
        entries = found.get(child.name, [])
        items = _items_of(child, entries, expr, ctx)
        label = entries[0][0] if len(entries) == 1 else child.label
        _check_count(child, len(items), f"{expr}.{label}", ctx, child.path)
        if child.slices:
            _validate_sliced(child, items, f"{expr}.{label}", ctx)
        else:
            for item_expr, tcode, value in items:
                _validate_item(child, tcode, value, item_expr, ctx)


def _values_by_child(node: _Node, obj: dict[str, Any], expr: str, ctx: _Ctx) -> dict[str, list[_Item]]:
    """child name -> [(JSON key, type code, value)] of the object's keys; unknown keys are reported."""
    found: dict[str, list[_Item]] = {}
    for key, value in obj.items():
        if key == "resourceType" and "." not in node.path:
            continue
        hit = node.keys.get(key)
        if hit is None and _is_primitive_extension(node, key):
            continue
        if hit is None:
            ctx.add(_unknown_key(node, key), f"{expr}.{key}", "structure")
            continue
        found.setdefault(hit[0].name, []).append((key, hit[1], value))
    return found


def _is_primitive_extension(node: _Node, key: str) -> bool:
    """`_birthDate` and the like: the extensions or id of a primitive element."""
    if not key.startswith("_"):
        return False
    primitive = node.keys.get(key[1:])
    return primitive is not None and primitive[1] in _PRIMITIVES


def _items_of(child: _Node, entries: list[_Item], expr: str, ctx: _Ctx) -> list[_Item]:
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


def _validate_sliced(child: _Node, items: list[_Item], expr: str, ctx: _Ctx) -> None:
    """Each item against the slice it matches (or the element, unmatched); then the count per slice."""
    per_slice: dict[str, int] = {s.slice_name or "": 0 for s in child.slices}
    for item_expr, tcode, value in items:
        sl = next((s for s in child.slices if _slice_matches(child, s, value)), None)
        if sl is None:
            if child.slice_rules == "closed":
                ctx.add(
                    f"No slice of {child.path} matches this item (closed slicing)", item_expr, "structure"
                )
            _validate_item(child, tcode, value, item_expr, ctx)
            continue
        per_slice[sl.slice_name or ""] += 1
        _validate_item(sl, tcode, value, item_expr, ctx)
    for sl in child.slices:
        _check_count(sl, per_slice[sl.slice_name or ""], expr, ctx, f"{child.path}:{sl.slice_name}")


def _check_contained(resource: dict[str, Any], expr: str, ctx: _Ctx) -> None:
    """dom-2, dom-3, dom-4 and dom-5, natively (only when the resource has contained resources)."""
    contained = resource.get("contained")
    if not isinstance(contained, list):
        return
    referenced = _local_references(resource, contained)
    for i, c in enumerate(contained):
        if isinstance(c, dict):
            _check_one_contained(c, c.get("id") in referenced, f"{expr}.contained[{i}]", ctx)


def _local_references(resource: dict[str, Any], contained: list[Any]) -> set[str]:
    """The ids that `#id` references point at, from the resource and from its contained resources."""
    ids: set[str] = set()

    def note(_holder: dict[str, Any], ref: str, _path: str) -> None:
        if ref.startswith("#"):
            ids.add(ref[1:])

    for part in [resource, *contained]:
        walk_references(part, note, skip={"contained"})
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
    contained_in: dict[str, Any] | None = None,
) -> None:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        issues.append(Issue("Not a FHIR resource (no resourceType)", (expr or "Resource",), "structure"))
        return
    rtype = resource["resourceType"]
    expr = expr or rtype
    urls = [profile_url] if profile_url is not None else _declared_profiles(resource)
    if rtype == "Bundle" and profile_url is None and not urls:
        _validate_entries(resource, issues)
        return
    ctx = _Ctx(contained_in or resource, bundle, issues)
    for url in urls:
        _validate_against(url, resource, expr, ctx)
    if contained_in is None and urls:
        _check_contained(resource, expr, ctx)


def _declared_profiles(resource: dict[str, Any]) -> list[str]:
    """The resource's meta.profile entries (without version) that our package defines."""
    meta = resource.get("meta")
    declared = meta.get("profile", []) if isinstance(meta, dict) else []
    known = known_profiles()
    return [u.split("|", 1)[0] for u in declared if isinstance(u, str) and u.split("|", 1)[0] in known]


def _validate_against(url: str, resource: dict[str, Any], expr: str, ctx: _Ctx) -> None:
    profile = _compile(url)
    if profile is None or profile.type == "Extension":
        ctx.add(f"Unknown profile {url}", expr, "invalid")
    elif profile.type != resource["resourceType"]:
        ctx.add(f"Profile {url} is for {profile.type}, not {resource['resourceType']}", expr, "invalid")
    else:
        _walk_object(profile.root, resource, expr, ctx)
        _check_constraints(profile.root, resource, expr, ctx)


def _validate_entries(bundle: dict[str, Any], issues: list[Issue]) -> None:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        issues.append(Issue("Bundle.entry must be a JSON array", ("Bundle.entry",), "structure"))
        return
    index: dict[str, dict[str, Any]] = {}
    for e in entries:
        if isinstance(e, dict) and isinstance(e.get("fullUrl"), str) and isinstance(e.get("resource"), dict):
            index[e["fullUrl"]] = e["resource"]
    for i, e in enumerate(entries):
        if isinstance(e, dict) and "resource" in e:
            _validate_resource(e["resource"], None, f"Bundle.entry[{i}].resource", index, issues)


def _dedupe(issues: Iterable[Issue]) -> list[Issue]:
    return list(dict.fromkeys(issues))


def validate(resource: dict[str, Any], profile_url: str | None = None) -> list[Issue]:
    """Every issue of `resource` against `profile_url` (default: its known meta.profile entries).

    A Bundle without a profile: each entry's resource against its own meta.profile, references
    resolved against the Bundle's fullUrls. Pure: no I/O after the first call loads the package.
    """
    issues: list[Issue] = []
    if profile_url is not None and _compile(profile_url.split("|", 1)[0]) is None:
        return [
            Issue(
                f"Unknown profile {profile_url}", (str(resource.get("resourceType", "Resource")),), "invalid"
            )
        ]
    _validate_resource(resource, profile_url and profile_url.split("|", 1)[0], None, None, issues)
    return _dedupe(issues)


def validate_bundle(bundle: dict[str, Any]) -> list[Issue]:
    """Every issue of every entry of a Bundle (each against its meta.profile), at once."""
    issues: list[Issue] = []
    _validate_entries(bundle, issues)
    return _dedupe(issues)


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(i.severity in ("error", "fatal") for i in issues)
