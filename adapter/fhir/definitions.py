"""StructureDefinitions compiled for the validator: our package's profiles and extensions, and R4 core.

`structure_definitions()` is every StructureDefinition the validator knows, by canonical URL: the R4
core ones (resources, datatypes, core extensions and profiles; `adapter.data.core_definitions()`)
and ours (`profiles/fsh-generated`), ours taking precedence. `compile_definition(url)` turns one
snapshot into a tree of `Node`s (compiled once, cached): per element its cardinality, JSON shape,
types, reference targets, fixed/pattern, min/max values, binding, invariants and slicing.
`type_definition(code)` is the compiled core definition of a datatype or resource type, which the
validator walks wherever a snapshot does not unfold an element's inside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from adapter.data import conformance_resources, core_definitions
from adapter.fhir.invariants import SKIPPED, Constraint, constraint

CORE_SD = "http://hl7.org/fhir/StructureDefinition/"
_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"


@dataclass
class Node:
    path: str
    name: str  # last path segment, e.g. "identifier", "value[x]"
    min: int
    max: int | None  # None: unbounded
    is_array: bool
    types: tuple[str, ...]
    targets: frozenset[str] | None = None  # Reference target resource types; None: any
    ext_profiles: tuple[str, ...] = ()
    type_profiles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # non-Extension type -> profiles
    fixed: Any = None
    pattern: Any = None
    min_value: Any = None
    max_value: Any = None
    max_length: int | None = None
    binding: tuple[str, str] | None = None  # (strength, ValueSet URL)
    constraints: list[Constraint] = field(default_factory=list)
    children: dict[str, Node] = field(default_factory=dict)
    content_ref: str | None = None  # "#Questionnaire.item": the children are those of that element
    ref: Node | None = None  # the element content_ref names (resolved after compiling)
    slice_name: str | None = None
    discriminators: tuple[tuple[str, str], ...] = ()
    slice_rules: str = "open"
    slices: list[Node] = field(default_factory=list)
    keys: dict[str, tuple[Node, str]] = field(default_factory=dict)  # JSON key -> (child, type)
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)  # the validator's cache

    @property
    def order(self) -> dict[str, int]:
        """Child name -> its place in the snapshot (issues come in snapshot order)."""
        found = self.memo.get("order")
        if found is None:
            found = {name: i for i, name in enumerate(self.children)}
            self.memo["order"] = found
        return found

    @property
    def required(self) -> frozenset[str]:
        """Names of the children checked even when absent: min > 0, or a slice with min > 0."""
        found = self.memo.get("required")
        if found is None:
            found = frozenset(
                c.name for c in self.children.values() if c.min > 0 or any(s.min > 0 for s in c.slices)
            )
            self.memo["required"] = found
        return found

    @property
    def label(self) -> str:
        return self.name[:-3] if self.name.endswith("[x]") else self.name

    @property
    def fhirpath_type(self) -> str:
        """The element's path as fhirpathpy's model knows it (`Observation.component`, `Timing.repeat`)."""
        return self.path.replace("[x]", "")

    @property
    def content(self) -> Node:
        """The node whose children describe this element's inside (itself, or its contentReference)."""
        return self.ref if self.ref is not None else self


@dataclass(frozen=True)
class Definition:
    url: str
    type: str
    kind: str
    derivation: str
    root: Node
    context: tuple[tuple[str, str], ...] = ()  # extensions: (context type, expression)
    is_modifier: bool = False  # a modifier extension


@cache
def structure_definitions() -> dict[str, dict[str, Any]]:
    """Every StructureDefinition with a snapshot, by URL: R4 core, then ours (ours win)."""
    out = {sd["url"]: sd for sd in core_definitions()["structureDefinitions"]}
    out.update(
        (r["url"], r)
        for r in conformance_resources()
        if r.get("resourceType") == "StructureDefinition" and "snapshot" in r
    )
    return out


@cache
def own_profiles() -> frozenset[str]:
    """URLs of the resource profiles (not extensions) of our package."""
    return frozenset(
        r["url"]
        for r in conformance_resources()
        if r.get("resourceType") == "StructureDefinition" and "snapshot" in r and r.get("type") != "Extension"
    )


@cache
def is_resource_type(name: str) -> bool:
    sd = structure_definitions().get(CORE_SD + name)
    return sd is not None and sd.get("kind") == "resource" and sd.get("derivation") == "specialization"


def target_type(profile: str) -> str:
    sd = structure_definitions().get(profile)
    if sd is not None:
        return str(sd["type"])
    return profile.rsplit("/", 1)[-1]


def _type_code(t: dict[str, Any]) -> str:
    """A FHIRPath System type (`Extension.url`, `Element.id`) as the FHIR type it stands for."""
    for ext in t.get("extension", []):
        if ext.get("url") == _FHIR_TYPE and "valueUrl" in ext:
            return str(ext["valueUrl"])
    return str(t["code"])


def _types(el: dict[str, Any], is_resource_id: bool) -> tuple[str, ...]:
    if is_resource_id:
        return ("id",)  # R4's snapshots say System.String; the spec says a resource id is an `id`
    return tuple(_type_code(t) for t in el.get("type", []))


def _node(el: dict[str, Any], name: str, is_resource_id: bool) -> Node:
    max_ = el.get("max", "*")
    node = Node(
        path=el["path"],
        name=name,
        min=int(el.get("min", 0)),
        max=None if max_ == "*" else int(max_),
        is_array=_repeats_in_base(el),
        types=_types(el, is_resource_id),
        targets=_reference_targets(el),
        ext_profiles=_extension_profiles(el),
        type_profiles=_type_profiles(el),
        binding=_checked_binding(el),
        constraints=[
            constraint(c["key"], c.get("severity", "error"), c.get("human", ""), c["expression"])
            for c in el.get("constraint", [])
            if c.get("expression") and c["key"] not in SKIPPED
        ],
        content_ref=el.get("contentReference"),
        slice_name=el.get("sliceName"),
        max_length=el.get("maxLength"),
    )
    _values(node, el)
    slicing = el.get("slicing")
    if slicing:
        node.discriminators = tuple((d["type"], d["path"]) for d in slicing.get("discriminator", []))
        node.slice_rules = slicing.get("rules", "open")
    return node


def _values(node: Node, el: dict[str, Any]) -> None:
    for k, v in el.items():
        if k.startswith("fixed"):
            node.fixed = v
        elif k.startswith("pattern"):
            node.pattern = v
        elif k.startswith("minValue"):
            node.min_value = v
        elif k.startswith("maxValue"):
            node.max_value = v


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
        if not profiles or CORE_SD + "Resource" in profiles:
            return None
        targets.update(target_type(tp) for tp in profiles)
    return frozenset(targets)


def _extension_profiles(el: dict[str, Any]) -> tuple[str, ...]:
    return tuple(p for t in el.get("type", []) if t["code"] == "Extension" for p in t.get("profile", []))


def _type_profiles(el: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Type code -> the profiles the element's type must meet (e.g. Quantity -> SimpleQuantity)."""
    return {
        t["code"]: tuple(t["profile"])
        for t in el.get("type", [])
        if t.get("profile") and t["code"] not in ("Extension", "Reference", "canonical")
    }


def _checked_binding(el: dict[str, Any]) -> tuple[str, str] | None:
    """(strength, ValueSet URL) of a required or extensible binding; weaker ones are not checked."""
    b = el.get("binding")
    if b and b.get("valueSet") and b.get("strength") in ("required", "extensible"):
        return b["strength"], b["valueSet"].split("|", 1)[0]
    return None


def _index_keys(node: Node) -> None:
    for child in node.children.values():
        if child.name.endswith("[x]"):
            for t in child.types:
                node.keys[child.label + t[0].upper() + t[1:]] = (child, t)
        else:
            node.keys[child.name] = (child, child.types[0] if child.types else "BackboneElement")
        _index_keys(child)
    for s in node.slices:
        _index_keys(s)


#: Where R4 itself uses a core extension outside the context its definition gives: R4's own snapshots
#: (and SUSHI's, after them) put structuredefinition-fhir-type on ElementDefinition.type, its definition
#: says ElementDefinition.type.code (later versions of FHIR say ElementDefinition.type).
CONTEXT_ERRATA: dict[str, tuple[tuple[str, str], ...]] = {
    CORE_SD + "structuredefinition-fhir-type": (("element", "ElementDefinition.type"),),
}


def _context(sd: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    declared = tuple((str(c.get("type")), str(c.get("expression"))) for c in sd.get("context", []))
    return declared + CONTEXT_ERRATA.get(sd["url"], ())


@cache
def compile_definition(url: str) -> Definition | None:
    sd = structure_definitions().get(url)
    if sd is None:
        return None
    kind = str(sd.get("kind", ""))
    by_id: dict[str, Node] = {}
    root: Node | None = None
    for el in sd["snapshot"]["element"]:
        segs = el["id"].split(".")
        name, _, slice_name = segs[-1].partition(":")
        node = _node(el, name, kind == "resource" and len(segs) == 2 and name == "id")
        by_id[el["id"]] = node
        if len(segs) == 1:
            root = root if slice_name else node
        elif slice_name:
            by_id[".".join([*segs[:-1], name])].slices.append(node)
        else:
            by_id[".".join(segs[:-1])].children[name] = node
    if root is None:
        return None
    for node in by_id.values():
        if node.content_ref:
            node.ref = by_id.get(node.content_ref.rsplit("#", 1)[-1])
    _index_keys(root)
    modifier = bool(sd["snapshot"]["element"][0].get("isModifier"))
    return Definition(url, str(sd["type"]), kind, str(sd.get("derivation", "")), root, _context(sd), modifier)


def type_definition(code: str) -> Definition | None:
    """The compiled core definition of a datatype or resource type (`HumanName`, `Patient`)."""
    return compile_definition(CORE_SD + code)
