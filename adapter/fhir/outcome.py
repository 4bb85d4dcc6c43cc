"""OperationOutcome: the one way the adapter says something went wrong.

Every refusal raises `FhirError`; the API turns it into an OperationOutcome with its HTTP status.
Each issue names the element with a FHIRPath `expression`, so a sender can fix the exact element.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    diagnostics: str
    expression: tuple[str, ...] = ()
    code: str = "invalid"  # IssueType: invalid, structure, required, value, not-found, conflict, ...
    severity: str = "error"
    #: an HTTP header or parameter the issue is about, as R4 names it: "http." + its name
    location: tuple[str, ...] = ()

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.location:
            out["location"] = list(self.location)
        if self.expression:
            out["expression"] = list(self.expression)
        return out


@dataclass
class FhirError(Exception):
    """A request the adapter refuses, with the HTTP status and every issue found."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: " + "; ".join(i.diagnostics for i in self.issues)

    @classmethod
    def one(cls, status: int, diagnostics: str, *expression: str, code: str = "invalid") -> FhirError:
        return cls(status, [Issue(diagnostics, tuple(expression), code)])


def version_conflict(resource_type: str, if_match: object, current: object) -> FhirError:
    """412: the If-Match header names another version than the current one. The issue points at both
    the header (`location`, as FHIR names HTTP headers) and the element it was compared with."""
    text = f'If-Match W/"{if_match}" does not match the current version W/"{current}"'
    issue = Issue(text, (f"{resource_type}.meta.versionId",), "conflict", location=("http.If-Match",))
    return FhirError(412, [issue])


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


def information(text: str) -> dict[str, Any]:
    return operation_outcome([Issue(text, code="informational", severity="information")])
