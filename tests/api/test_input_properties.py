"""No input makes a 500 (issue #16): valid writes, mutated at random, on SQLite and PostgreSQL.

Hypothesis takes the example referral (as intake, `$check-eligibility` and its Parameters form), a
home visit, the referral's Task, a sharing consent and the Parameters of `$request-consult`, `$apply`
and `$validate`, and changes one to three of their elements — another JSON type, numbers at and beyond
every range, unicode (NUL, lone surrogates, right-to-left marks, astral characters), over-long strings,
dates at the edges of the calendar, elements removed or added, objects turned into lists, duplicate
keys — and sends them, as well as random query strings. Whatever it sends:

- the answer is never a 5xx;
- every 4xx is an OperationOutcome in which every issue says what is wrong and names where
  (`expression`: the element, or the query parameter);
- a 4xx stores nothing: no resource version, business key, grant or outbox row is added.

Bounded: a few seconds per backend and property in `make test`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.store.engine import Store
from tests.api.bodies import intake, send, sharing_consent, visit
from tests.api.helpers import stored_rows

Path = tuple[str | int, ...]
BOUNDED = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SPECIAL_CHARACTERS = ["\x00", "\ud800", "\udfff", "\u202e", "\ufeff", "é", "\U0001d11e", "\n", " ", "|", "/"]
TEXT = st.one_of(
    st.text(st.one_of(st.characters(), st.sampled_from(SPECIAL_CHARACTERS)), max_size=12),
    st.sampled_from(["", "%00", "a\x00b", "Patient/x", "urn:uuid:x", "http://fhir.nl/fhir/NamingSystem/bsn"]),
)
LONG_TEXT = st.integers(250, 300).map(lambda n: "x" * n)
DATES = st.one_of(
    st.sampled_from(
        [
            "0001-01-01",
            "1899-12-31",
            "1900-01-01",
            "9999-12-31",
            "2099-03-02",
            "2026-02-29",
            "2026-13-01",
            "2026",
            "2026-03",
            "0001-01-01T00:30:00+01:00",
            "9999-12-31T23:30:00-05:00",
            "2026-03-02T25:00:00Z",
        ]
    ),
    st.dates().map(lambda d: d.isoformat()),
)
NUMBERS = st.one_of(
    st.sampled_from([0, -1, 1, 20, 21, 99, 2**31 - 1, 2**31, 10**18, 10**19, 1e308, -1e308, 1e-308, 0.5]),
    st.integers(),
    st.floats(),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT, LONG_TEXT, DATES)
MUTATIONS = ["replace", "replace", "delete", "text", "number", "date", "structure", "add"]


def _paths(value: Any, here: Path = ()) -> list[Path]:
    """Every element under the root (not the root itself), as key/index paths."""
    out: list[Path] = []
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    )
    for key, child in children:
        out.append((*here, key))
        out += _paths(child, (*here, key))
    return out


def _holder(doc: Any, path: Path) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


@st.composite
def mutated(draw: st.DrawFn, doc: dict[str, Any]) -> str:
    """`doc` with one to three elements changed, as the JSON text sent (NaN and Infinity included)."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p != ("resourceType",)]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        holder, key = _holder(doc, path), path[-1]
        kind = draw(st.sampled_from(MUTATIONS))
        old = holder[key]
        if kind == "delete":
            del holder[key]
        elif kind == "structure":
            holder[key] = draw(
                st.sampled_from([[old], {"value": old}, [], {}, old if isinstance(old, list) else [[old]]])
            )
        elif kind == "add" and isinstance(old, dict):
            name = draw(
                st.sampled_from(["modifierExtension", "extension", "unknownElement", "id", "_status"])
            )
            old[name] = draw(st.one_of(SCALARS, st.just([{"url": "urn:x", "valueBoolean": True}])))
        else:
            strategy = {"text": TEXT, "number": NUMBERS, "date": DATES}.get(kind, SCALARS)
            holder[key] = draw(strategy)
    text = json.dumps(doc)
    if draw(st.integers(0, 9)) == 0:  # a key twice: the last would win in a lenient parser
        text = text.replace('"status": ', '"status": "entered-in-error", "status": ', 1)
    return text


def _check(r: Any, store: Store, before: tuple[int, ...], sent: str) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:500], sent[:2000])
    if r.status_code < 400:
        return
    out = r.json()
    assert out["resourceType"] == "OperationOutcome", out
    assert out["issue"], out
    for issue in out["issue"]:
        assert issue.get("diagnostics") and issue.get("expression"), (r.status_code, issue, sent[:2000])
    assert stored_rows(store) == before, (r.status_code, out, sent[:2000])


def _parameters(**named: Any) -> dict[str, Any]:
    """Parameters of an operation: a string as valueString, a resource as resource."""
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": k, "resource": v} if isinstance(v, dict) else {"name": k, "valueString": v}
            for k, v in named.items()
        ],
    }


QUESTION = {
    "resourceType": "Parameters",
    "parameter": [
        {"name": "question", "valueString": "Graag advies over de start."},
        {
            "name": "reason",
            "valueCoding": {
                "system": "https://fhir.voorzorg.nl/CodeSystem/voorzorg-decision-reason",
                "code": "forced-framework",
            },
        },
    ],
}


@pytest.fixture
def made(client: TestClient, referral: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A referral taken in: what the other writes refer to (kept across the examples of one test)."""
    return intake(client, referral)


@BOUNDED
@given(data=st.data())
def test_mutated_referrals_never_make_a_5xx_and_a_4xx_stores_nothing(
    client: TestClient, store: Store, referral: dict[str, Any], data: st.DataObject
) -> None:
    path = data.draw(
        st.sampled_from(["/", "/$check-eligibility", "/$check-eligibility (Parameters)"]), label="path"
    )
    wrapped = path.endswith("(Parameters)")
    body = data.draw(mutated(_parameters(referral=referral) if wrapped else referral), label="body")
    path = path.split(" ")[0]
    before = stored_rows(store)
    _check(send(client, "POST", path, body), store, before, body)


@BOUNDED
@given(data=st.data())
def test_mutated_writes_never_make_a_5xx_and_a_4xx_stores_nothing(
    client: TestClient, store: Store, made: dict[str, dict[str, Any]], data: st.DataObject
) -> None:
    patient = f"Patient/{made['Patient']['id']}"
    writes = {
        "visit": ("POST", "/Encounter", visit(made["CarePlan"])),
        "task": ("PUT", f"/Task/{made['Task']['id']}", {**made["Task"], "status": "in-progress"}),
        "consent": ("POST", "/Consent", sharing_consent(patient)),
        "consult": ("POST", f"/ServiceRequest/{made['ServiceRequest']['id']}/$request-consult", QUESTION),
        "apply": ("POST", "/PlanDefinition/voorzorg-plan-voorzorg/$apply", _parameters(subject=patient)),
        "validate": ("POST", "/Patient/$validate", _parameters(resource=made["Patient"])),
    }
    name = data.draw(st.sampled_from(sorted(writes)), label="write")
    method, path, valid = writes[name]
    # an update names the version it changes (without If-Match it is 428 whatever the body)
    headers = {"If-Match": f'W/"{made["Task"]["meta"]["versionId"]}"'} if name == "task" else {}
    body = data.draw(mutated(valid), label="body")
    before = stored_rows(store)
    _check(send(client, method, path, body, **headers), store, before, body)


QUERY_NAMES = st.sampled_from(
    [
        "identifier",
        "_id",
        "status",
        "patient",
        "subject",
        "date",
        "_lastUpdated",
        "_count",
        "_offset",
        "_sort",
        "code",
    ]
)


@BOUNDED
@given(data=st.data())
def test_random_searches_never_make_a_5xx(client: TestClient, store: Store, data: st.DataObject) -> None:
    rtype = data.draw(
        st.sampled_from(["Patient", "Task", "Encounter", "Observation", "CarePlan"]), label="type"
    )
    params = data.draw(
        st.lists(
            st.tuples(st.one_of(QUERY_NAMES, TEXT), st.one_of(TEXT, LONG_TEXT, DATES, NUMBERS.map(str))),
            max_size=3,
        ),
        label="query",
    )
    before = stored_rows(store)
    r = client.get(
        f"/{rtype}",
        params=[(k.encode("utf-8", "surrogatepass").decode("utf-8", "replace"), v) for k, v in params],
    )
    _check(r, store, before, repr(params))


def test_an_update_without_if_match_is_428_naming_the_header(
    client: TestClient, made: dict[str, dict[str, Any]]
) -> None:
    r = send(client, "PUT", f"/Task/{made['Task']['id']}", {**made["Task"], "status": "in-progress"})
    assert r.status_code == 428
    assert r.json()["issue"][0]["location"] == ["http.If-Match"]
    bad = send(client, "PUT", f"/Task/{made['Task']['id']}", made["Task"], **{"If-Match": "three"})
    assert bad.status_code == 400 and bad.json()["issue"][0]["location"] == ["http.If-Match"]
