"""FHIRPath invariants (ElementDefinition.constraint) for the validator: evaluated right, and fast.

`constraint(key, severity, human, expression)` makes a `Constraint`; `holds(c, value, type_path, env)`
says whether it holds on one instance of its element:

  * evaluated with fhirpathpy (model r4) on the value typed as its element (`type_path`, e.g.
    `Observation.component`), so a choice element is visible by its name (`value` finds
    `valueQuantity`); `%context` is the value, `%resource` the resource that holds it (an entry's own
    resource in a Bundle, a contained resource itself) and `%rootResource` the resource that holds
    that one (the container of a contained resource); `hasValue()`, which fhirpathpy lacks, is added;
  * an invariant is split along its top-level `or`, `and` and `implies` and evaluated part by part,
    left to right, stopping where FHIRPath's three-valued logic has decided (`X.empty() or ...` on an
    instance without X is true at once). A part that only asks whether an element is there
    (`X.exists()`, `X.empty()`, `X.exists().not()`) is answered from the JSON keys. A part that reads
    its focus only through named elements (no `%resource` or `$this` on the focus, no function
    called on the focus itself) is not evaluated on an instance that has none of them: its result
    there is its result on an empty element, computed once;
  * a few invariants that hold on nearly every resource are evaluated natively (`NATIVE`: ref-1,
    per-1, qty-3, cpt-2, att-1, txt-1/txt-2's `htmlChecks()`), each only when the constraint's
    expression is exactly the R4 one, and our bsn-elfproef (nine substring().toInteger() cost
    fhirpathpy 0.4 ms per BSN); tests/profiles compare each with fhirpathpy.

An invariant fails on an explicit false; an empty result does not fail (what is missing is reported
by cardinality instead). One that fhirpathpy cannot evaluate (e.g. `resolve()`) is reported as a
warning by the validator, never as an error.
"""

from __future__ import annotations

import datetime as _dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhirpathpy import apply_parsed_path as _apply_parsed_path
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.engine.util import set_paths as _set_paths
from fhirpathpy.models import models as _fhirpath_models
from fhirpathpy.parser import parse as _fhirpath_parse_untyped

from adapter.domain.identifiers import is_valid_bsn


def _fhirpath_parse(expression: str) -> dict[str, Any]:
    tree: dict[str, Any] = _fhirpath_parse_untyped(expression)  # type: ignore[no-untyped-call]
    return tree


__all__ = ["NATIVE", "SKIPPED", "Constraint", "Env", "constraint", "holds"]

#: Invariants the validator checks in its own code, never with fhirpathpy: ele-1 and ext-1 (on every
#: element), dom-2..dom-5 (contained resources), bdl-1..bdl-12 (`adapter.fhir.bundle_rules`); and dom-6
#: (a narrative is best practice: a warning on every resource without text, noise for a REST intake).
SKIPPED = frozenset(
    {"ele-1", "ext-1", "dom-2", "dom-3", "dom-4", "dom-5", "dom-6"} | {f"bdl-{n}" for n in range(1, 13)}
)


@dataclass(frozen=True)
class Env:
    """%resource and %rootResource for one resource being validated."""

    resource: dict[str, Any]
    root: dict[str, Any]


#: What a native invariant is: (the expression it stands for, None: ours, whatever our package says; a
#: function of (value, env) -> holds).
Native = tuple[str | None, Callable[[Any, Env], bool]]


@dataclass
class _Leaf:
    """A part of an invariant evaluated as a whole: by fhirpathpy, or natively when it only asks whether
    one element is there (`X.exists()`, `X.empty()`, `X.exists().not()`) or compares one element with a
    literal (`status = 'rejected'`, `value >= 0`)."""

    tree: dict[str, Any]
    names: frozenset[str] | None  # the elements it reads (None: it reads more than elements)
    presence: tuple[str, bool] | None  # (element, whether "there" is true)
    comparison: tuple[str, str, str | float | bool] | None = None  # (element, operator, literal)
    reads: re.Pattern[str] = field(default_factory=lambda: re.compile("(?!)"))  # the JSON keys of `names`
    _fn: Callable[..., Any] | None = None
    _on_empty: bool | None = None
    _on_empty_known: bool = False

    def fn(self) -> Callable[..., Any]:
        if self._fn is None:
            parsed = {"children": [self.tree]}
            self._fn = _set_paths(_apply_parsed_path, parsed, _fhirpath_models["r4"], _OPTIONS)  # type: ignore[no-untyped-call]
        return self._fn


@dataclass
class _Part:
    """An invariant as its top-level boolean structure (`or`, `and`, `implies`) over leaves, so that a
    part that decides the result spares evaluating the rest (FHIRPath's three-valued logic)."""

    op: str  # "or", "and", "implies", "leaf"
    parts: tuple[_Part, ...] = ()
    leaf: _Leaf | None = None


@dataclass
class Constraint:
    key: str
    severity: str
    human: str
    expression: str
    native: Callable[[Any, Env], bool] | None = None
    _plan: _Part | None = field(default=None, repr=False)

    def plan(self) -> _Part:
        if self._plan is None:
            self._plan = _plan(_fhirpath_parse(self.expression)["children"][0])
        return self._plan


#: R4 invariants whose expression says a System type where the FHIR type is meant (`answer is Boolean`
#: is false for a FHIR boolean in a strict engine such as fhirpathpy; the HL7 validator reads it as
#: `boolean`): (key, R4 expression) -> the expression evaluated instead.
ERRATA: dict[tuple[str, str], str] = {
    (
        "que-7",
        "operator = 'exists' implies (answer is Boolean)",
    ): "operator = 'exists' implies (answer is boolean)",
}


def constraint(key: str, severity: str, human: str, expression: str) -> Constraint:
    expression = ERRATA.get((key, expression), expression)
    native = NATIVE.get(key)
    use_native = native is not None and native[0] in (expression, None)
    return Constraint(key, severity, human, expression, native=native[1] if native and use_native else None)


# ---- fhirpathpy ------------------------------------------------------------------------------------


def _has_value(inputs: list[Any]) -> list[bool]:
    """FHIRPath hasValue(): a single primitive with a value (not only extensions)."""
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)]


_OPTIONS: dict[str, Any] = {
    "userInvocationTable": {"hasValue": {"fn": _has_value, "arity": {0: []}}},
    "traceFn": lambda *_: None,  # trace() in an invariant (ref-1) must not print
}
_BOOLEAN_OPS = {"OrExpression": "or", "AndExpression": "and", "ImpliesExpression": "implies"}
_PRESENCE = re.compile(r"([a-z][A-Za-z0-9]*)\.(exists\(\)|empty\(\)|exists\(\)\.not\(\))")


def _plan(tree: dict[str, Any]) -> _Part:
    kind = tree.get("type")
    op = _BOOLEAN_OPS.get(str(kind))
    if op is not None and tree.get("terminalNodeText") == [op]:
        return _Part(op, tuple(_plan(c) for c in tree["children"]))
    children = tree.get("children", [])
    if kind == "TermExpression" and len(children) == 1 and children[0].get("type") == "ParenthesizedTerm":
        return _plan(children[0]["children"][0])
    m = _PRESENCE.fullmatch(str(tree.get("text", "")))
    presence = (m.group(1), m.group(2) == "exists()") if m else None
    names = _names_of(tree)
    return _Part("leaf", leaf=_Leaf(tree, names, presence, _comparison(tree), _reading(names or frozenset())))


def _comparison(tree: dict[str, Any]) -> tuple[str, str, str | float | bool] | None:
    """`element op literal` (op one of = != < <= > >=), as (element, op, literal); else None."""
    op = (tree.get("terminalNodeText") or [None])[0]
    if tree.get("type") not in ("EqualityExpression", "InequalityExpression") or op not in _OPERATORS:
        return None
    left, right = tree["children"]
    member = _only_child(left, "InvocationTerm", "MemberInvocation", "Identifier")
    literal = _only_child(right, "LiteralTerm")
    if member is None or literal is None or not str(member.get("text", ""))[:1].islower():
        return None
    kind, text = literal["children"][0].get("type"), str(literal.get("text", ""))
    if kind == "StringLiteral" and op in ("=", "!=") and "\\" not in text:
        return str(member["text"]), op, text[1:-1]
    if kind == "NumberLiteral":
        return str(member["text"]), op, float(text)
    if kind == "BooleanLiteral" and op in ("=", "!="):
        return str(member["text"]), op, text == "true"
    return None


def _only_child(tree: dict[str, Any], *kinds: str) -> dict[str, Any] | None:
    """The node below `tree` along a chain of single children of these kinds, or None."""
    for kind in kinds:
        children = tree.get("children", [])
        if len(children) != 1 or children[0].get("type") != kind:
            return None
        tree = children[0]
    return tree


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def _compared(comparison: tuple[str, str, str | float | bool], value: dict[str, Any]) -> bool | str | None:
    """The comparison on a JSON object: True/False, None (the element is not there), or "?" when it
    takes FHIRPath's own rules (a list, a type the literal is not)."""
    name, op, literal = comparison
    found = [
        v for k, v in value.items() if k == name or (k.startswith(name) and k[len(name) :][:1].isupper())
    ]
    if not found:
        return None
    item = found[0]
    if len(found) > 1 or isinstance(item, list | dict) or isinstance(item, bool) != isinstance(literal, bool):
        return "?"
    if isinstance(literal, str) != isinstance(item, str):
        return "?"
    return _OPERATORS[op](item, literal)


def _truth(part: _Part, value: Any, type_path: str, env: Env) -> bool | None:
    """True, False, or None (empty) — short-circuited the way FHIRPath's or/and/implies allow."""
    if part.leaf is not None:
        return _leaf_truth(part.leaf, value, type_path, env)
    if part.op == "implies":
        if _truth(part.parts[0], value, type_path, env) is not True:
            return True  # false implies anything; empty implies true-or-empty: never false
        return _truth(part.parts[1], value, type_path, env)
    decisive = part.op == "or"  # or: one true decides; and: one false decides
    unknown = False
    for p in part.parts:
        t = _truth(p, value, type_path, env)
        if t is decisive:
            return decisive
        unknown = unknown or t is None
    return None if unknown else not decisive


def _leaf_truth(leaf: _Leaf, value: Any, type_path: str, env: Env) -> bool | None:
    if isinstance(value, dict) and leaf.presence is not None:
        name, exists = leaf.presence
        there = _present(name, value, type_path)
        if there is not None:
            return there == exists
    if isinstance(value, dict) and leaf.comparison is not None:
        compared = _compared(leaf.comparison, value)
        if compared != "?":
            return compared  # type: ignore[return-value]
    if leaf.names is not None and isinstance(value, dict) and not _reads_any(leaf.reads, value):
        if not leaf._on_empty_known:
            leaf._on_empty = _as_truth(_evaluate(leaf, {}, type_path, env))
            leaf._on_empty_known = True
        return leaf._on_empty
    return _as_truth(_evaluate(leaf, value, type_path, env))


def _as_truth(result: list[Any]) -> bool | None:
    if not result:
        return None
    return result != [False]


def _evaluate(leaf: _Leaf, value: Any, type_path: str, env: Env) -> list[Any]:
    is_resource = isinstance(value, dict) and "resourceType" in value
    focus = value if is_resource else ResourceNode.create_node(value, type_path)  # type: ignore[no-untyped-call]
    result: list[Any] = leaf.fn()(focus, {"resource": env.resource, "rootResource": env.root})
    return result


def holds(c: Constraint, value: Any, type_path: str, env: Env) -> bool:
    """Whether the invariant holds on this value (raises when fhirpathpy cannot evaluate it)."""
    if c.native is not None:
        return c.native(value, env)
    return _truth(c.plan(), value, type_path, env) is not False


def _reads_any(reads: re.Pattern[str], value: dict[str, Any]) -> bool:
    """Whether the object may have any of the elements: a key that is one (`_start` for `start`) or starts
    with one and goes on in upper case (`valueQuantity` for `value`; `dataAbsentReason` for `data` too,
    which only means the invariant is evaluated)."""
    return any(reads.match(key) for key in value)


def _reading(names: frozenset[str]) -> re.Pattern[str]:
    alternatives = "|".join(sorted(re.escape(n) for n in names)) or "(?!)"
    return re.compile(rf"_?(?:{alternatives})(?![a-z0-9_])")


_CHOICES: dict[str, list[str]] = _fhirpath_models["r4"]["choiceTypePaths"]


def _present(name: str, value: dict[str, Any], type_path: str) -> bool | None:
    """Whether the element is in the object (a choice element by any of its types); None: cannot tell."""
    if name in value or "_" + name in value:
        return True
    types = _CHOICES.get(f"{type_path}.{name}")
    if types:
        return any(
            name + t[0].upper() + t[1:] in value or "_" + name + t[0].upper() + t[1:] in value for t in types
        )
    if any(key.startswith(name) and key[len(name) : len(name) + 1].isupper() for key in value):
        return None  # perhaps a choice element the model does not know here: let fhirpathpy say
    return False


# ---- which elements an invariant reads ----------------------------------------------------------

#: Functions whose argument is evaluated on each item of their input, not on the invariant's focus.
_ITERATING = frozenset({"where", "select", "all", "exists", "repeat", "aggregate", "iif"})
_CONSTANTS = frozenset({"%ucum", "%`ucum`"})


class _Unanalysable(Exception):
    pass


def focus_names(expression: str) -> frozenset[str] | None:
    """The element names an expression reads from its focus, when it reads it only through them.

    None when the expression reads the focus some other way ($this, a function called on the focus,
    an environment variable other than %ucum, a type name): then it is always evaluated."""
    return _names_of(_fhirpath_parse(expression))


def _names_of(tree: dict[str, Any]) -> frozenset[str] | None:
    names: set[str] = set()
    try:
        _collect(tree, True, names)
    except Exception:  # an unusual expression: evaluate it, never skip
        return None
    return frozenset(names)


def _collect(node: dict[str, Any], at_focus: bool, names: set[str]) -> None:
    kind = node.get("type")
    children: list[dict[str, Any]] = node.get("children", [])
    if kind == "ExternalConstantTerm" and at_focus and node.get("text") not in _CONSTANTS:
        raise _Unanalysable  # %resource, %context ... (inside a where() they only run when it has items)
    if kind == "InvocationExpression":
        _collect(children[0], at_focus, names)
        _collect_invocation(children[1], at_focus, names, head=False)
        return
    if kind == "InvocationTerm":
        _collect_invocation(children[0], at_focus, names, head=True)
        return
    for child in children:
        _collect(child, at_focus, names)


def _collect_invocation(node: dict[str, Any], at_focus: bool, names: set[str], head: bool) -> None:
    kind = node.get("type")
    if kind == "MemberInvocation":
        name = str(node["children"][0].get("text", ""))
        if head and at_focus:
            if not name[:1].islower():
                raise _Unanalysable  # a type name (`Patient.name`): the focus's type is read
            names.add(name.strip("`"))
        return
    if kind == "FunctionInvocation":
        if head and at_focus:
            raise _Unanalysable  # `hasValue()`, `children()`, ... on the focus itself
        functn = node["children"][0]
        fname = functn["children"][0].get("text")
        for param in functn.get("children", [])[1:]:
            _collect(param, at_focus and fname not in _ITERATING, names)
        return
    if kind in ("ThisInvocation", "IndexInvocation", "TotalInvocation") and head and at_focus:
        raise _Unanalysable
    for child in node.get("children", []):
        _collect(child, at_focus, names)


# ---- native invariants ------------------------------------------------------------------------------


def _get(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else None


def _ref_1(value: Any, env: Env) -> bool:
    """SHALL have a contained resource if a local reference is provided ('#' is the container)."""
    ref = _get(value, "reference")
    if not isinstance(ref, str) or not ref.startswith("#") or ref == "#":
        return True
    contained = env.root.get("contained")
    ids = {c.get("id") for c in contained if isinstance(c, dict)} if isinstance(contained, list) else set()
    return ref[1:] in ids


def _moment(text: str) -> _dt.datetime | str:
    """A dateTime with a time as an aware datetime; a partial date as its text."""
    if "T" in text:
        try:
            return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text[:10]
    return text


def _per_1(value: Any, env: Env) -> bool:
    """If present, start SHALL have a lower value than end (compared at their common precision)."""
    start, end = _get(value, "start"), _get(value, "end")
    if not isinstance(start, str) or not isinstance(end, str):
        return True
    a, b = _moment(start), _moment(end)
    if isinstance(a, _dt.datetime) and isinstance(b, _dt.datetime):
        return a <= b
    a_text = start[:10] if isinstance(a, _dt.datetime) else a
    b_text = end[:10] if isinstance(b, _dt.datetime) else b
    n = min(len(a_text), len(b_text))
    return a_text[:n] <= b_text[:n]


def _empty_or_exists(absent: str, present: str) -> Callable[[Any, Env], bool]:
    def check(value: Any, env: Env) -> bool:
        return _get(value, absent) is None or _get(value, present) is not None

    return check


_XHTML = "{http://www.w3.org/1999/xhtml}"
_FORBIDDEN_TAGS = frozenset(
    {"script", "object", "applet", "iframe", "embed", "form", "input", "base", "link"}
)
_EVENT_ATTRIBUTE = re.compile(r"^on[a-z]+$", re.IGNORECASE)


def _html_checks(value: Any, env: Env) -> bool:
    """Narrative.div: an XHTML <div>, no active content (scripts, forms, event attributes), and some
    non-whitespace content (txt-1 and txt-2, which R4 writes as `htmlChecks()`)."""
    if not isinstance(value, str):
        return False
    try:
        root = ET.fromstring(value)
    except ET.ParseError:
        return False
    if root.tag != _XHTML + "div":
        return False
    for el in root.iter():
        tag = el.tag.removeprefix(_XHTML)
        if tag in _FORBIDDEN_TAGS or any(_EVENT_ATTRIBUTE.match(a) for a in el.attrib):
            return False
    return bool("".join(root.itertext()).strip()) or any(el.tag == _XHTML + "img" for el in root.iter())


def _bsn_elfproef(value: Any, env: Env) -> bool:
    """Our bsn-elfproef on Patient.identifier:bsn (its FHIRPath: 9 digits, or 8 read with a leading 0;
    not all zeros; 9a+8b+...+2h-i a multiple of 11). No value: nothing to check."""
    bsn = _get(value, "value")
    return not isinstance(bsn, str) or is_valid_bsn(bsn)


NATIVE: dict[str, Native] = {
    "bsn-elfproef": (None, _bsn_elfproef),
    "ref-1": (
        "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
        "%rootResource.contained.id.trace('ids'))",
        _ref_1,
    ),
    "per-1": ("start.hasValue().not() or end.hasValue().not() or (start <= end)", _per_1),
    "qty-3": ("code.empty() or system.exists()", _empty_or_exists("code", "system")),
    "cpt-2": ("value.empty() or system.exists()", _empty_or_exists("value", "system")),
    "att-1": ("data.empty() or contentType.exists()", _empty_or_exists("data", "contentType")),
    "txt-1": ("htmlChecks()", _html_checks),
    "txt-2": ("htmlChecks()", _html_checks),
}
