"""The pseudonymised variant of an export, for research: the rules of mappings/pseudonymisation.yaml
applied to one resource at a time.

    p = Pseudonymiser(key)
    p.resource(patient)          # a copy: no BSN, name, address but the municipality, birth year-month
    p.pseudonym("Patient/abc")   # "Patient/<HMAC-SHA-256(key, 'Patient/abc') hex>": the same every time

Every id and every reference is replaced by its keyed pseudonym, so a researcher links a client's
resources (and her child's to her) but cannot turn a pseudonym back into her record without the key.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
from pathlib import Path
from typing import Any

from adapter.data import pseudonymisation_rules
from adapter.security.audit_keys import MIN_SECRET_BYTES, make_secret_file

#: A reference to a resource: [base/]Type/id[/_history/n].
_REFERENCE = re.compile(r"^(?:.*/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]+)?$")


def load_pseudonym_key(secret: str, key_file: Path) -> bytes:
    """The pseudonym key: `secret` (VOORZORG_PSEUDONYM_KEY) when given, else the last line of `key_file`
    (made on first use, 32 random bytes in hex, mode 0600)."""
    if secret.strip():
        key = secret.strip().encode()
    else:
        if not key_file.exists():
            make_secret_file(key_file)
        lines = [ln.strip() for ln in key_file.read_text(encoding="utf-8").splitlines()]
        found = [ln for ln in lines if ln and not ln.startswith("#")]
        key = found[-1].encode() if found else b""
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the pseudonym key must be at least {MIN_SECRET_BYTES} bytes long")
    return key


class Pseudonymiser:
    def __init__(self, key: bytes) -> None:
        self.key = key
        self.rules = pseudonymisation_rules()

    def pseudonym(self, reference: str) -> str:
        """`Type/id` -> `Type/<pseudonym>` (64 hex digits: a FHIR id at its longest)."""
        rtype, _, _ = reference.partition("/")
        return f"{rtype}/{self._mac(reference)}"

    def _mac(self, reference: str) -> str:
        return hmac.new(self.key, reference.encode("utf-8"), hashlib.sha256).hexdigest()

    def resource(self, resource: dict[str, Any]) -> dict[str, Any]:
        """A pseudonymised copy of `resource` (contained resources too)."""
        out = copy.deepcopy(resource)
        self._apply(out)
        meta = out.setdefault("meta", {})
        meta["security"] = [*meta.get("security", []), *self.rules["security"]]
        return out

    def _apply(self, res: dict[str, Any], top: bool = True) -> None:
        rtype = str(res.get("resourceType", ""))
        for path in [*self.rules["remove"].get("*", []), *self.rules["remove"].get(rtype, [])]:
            _remove(res, path.split("."))
        for path, keep in self.rules["keep_only"].items():
            owner, _, element = path.rpartition(".")
            if owner == rtype:
                _keep_only(res, element, set(keep))
        for element in self.rules["year_month"].get(rtype, []):
            if isinstance(res.get(element), str):
                res[element] = res[element][:7]
        if "id" in res and rtype and top:  # a contained resource keeps its local id (#id)
            res["id"] = self._mac(f"{rtype}/{res['id']}")
        for inner in res.get("contained", []) if isinstance(res.get("contained"), list) else []:
            if isinstance(inner, dict):
                self._apply(inner, top=False)
        self._walk(res, top=True)

    def _walk(self, node: Any, top: bool = False) -> Any:
        """Remove the `everywhere` elements, pseudonymise references, drop what became empty."""
        if isinstance(node, list):
            kept = [self._walk(v) for v in node]
            return [v for v in kept if v not in ({}, [], None)]
        if not isinstance(node, dict):
            return node
        if "reference" in node and isinstance(node["reference"], str):
            self._reference(node)
        for key in list(node):
            if key in self.rules["everywhere"] or (key == "contained" and not top):
                del node[key]
                continue
            if key != "contained":
                node[key] = self._walk(node[key])
            if node[key] in ({}, [], None):
                del node[key]
        return node

    def _reference(self, ref: dict[str, Any]) -> None:
        for key in [k for k in ref if k not in self.rules["reference_keeps"]]:
            del ref[key]
        value = ref["reference"]
        if value.startswith("#"):
            return
        m = _REFERENCE.match(value)
        if m is None:
            del ref["reference"]  # a conditional or foreign reference: it may carry an identifier
            return
        ref["reference"] = self.pseudonym(f"{m.group(1)}/{m.group(2)}")


def _remove(node: Any, path: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _remove(item, path)
        return
    if not isinstance(node, dict) or path[0] not in node:
        return
    if len(path) == 1:
        del node[path[0]]
        return
    _remove(node[path[0]], path[1:])
    if node[path[0]] in ({}, []):
        del node[path[0]]


def _keep_only(res: dict[str, Any], element: str, keep: set[str]) -> None:
    values = res.get(element)
    if not isinstance(values, list):
        return
    kept = [{k: v for k, v in item.items() if k in keep} for item in values if isinstance(item, dict)]
    kept = [item for item in kept if item]
    if kept:
        res[element] = kept
    else:
        del res[element]
