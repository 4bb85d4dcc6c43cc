"""What the security layer costs per request, in-process: verifying the bearer token, and appending the
request's AuditEvent to the hash-chained log (SQLite and PostgreSQL).

Both are built the way the server builds them (`adapter/api/context.py`, `adapter/api/guard.py`):
a `TokenVerifier` trusting an embedded `IssuerKey` (here in a temporary directory) and a token `mint`ed
with it; an `AuditLog` on a migrated `Store`, and events from `build_event` for an intake-like request.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from pathlib import Path
from typing import Any

from adapter.security.audit import Access, AuditLog, build_event
from adapter.security.principal import Principal
from adapter.security.tokens import IssuerKey, TokenVerifier, mint
from adapter.store.engine import Store
from bench.auth import JGZ_ORGANIZATION
from bench.decision import Rate, measure
from bench.server import bench_store

BASE = "http://127.0.0.1:8080"  # stands for the server's base URL (audience; issuer is BASE/auth)


def _verifier(directory: Path) -> tuple[TokenVerifier, str]:
    key = IssuerKey(directory / "issuer-key.pem")
    verifier = TokenVerifier(BASE, f"{BASE}/auth", key, {})
    token = mint(
        key,
        issuer=f"{BASE}/auth",
        audience=BASE,
        client_id="voorzorg-bench",
        scope="system/*.cruds",
        role="jgz",
        organization=JGZ_ORGANIZATION,
        lifetime=3600,
    )
    return verifier, token


def verify_rate(calls: int) -> tuple[Rate, Principal]:
    with tempfile.TemporaryDirectory(prefix="voorzorg-bench-key-") as tmp:
        verifier, token = _verifier(Path(tmp))
        who = verifier.verify(token)
        assert who.role == "jgz" and who.organization == JGZ_ORGANIZATION, who
        rate = measure(
            "`TokenVerifier.verify(token)` (ES256, embedded issuer)", lambda: verifier.verify(token), calls
        )
    return rate, who


def intake_event(who: Principal) -> dict[str, Any]:
    """The AuditEvent of one new referral, as the `gate` middleware builds it after intake."""
    patient = f"Patient/{uuid.uuid4()}"
    access = Access(interaction="transaction")
    touched = ["Organization", "ServiceRequest", *["Observation"] * 6, "Consent", "Task", "Task", "CarePlan"]
    access.touched(patient, patient)
    for rtype in touched:
        access.touched(f"{rtype}/{uuid.uuid4()}", patient)
    return build_event(
        access,
        principal=who,
        outcome="success",
        outcome_text="HTTP 200",
        address="127.0.0.1",
        path="POST /",
        observer=BASE,
    )


def _store(backend: str) -> contextlib.AbstractContextManager[Store]:
    return bench_store(backend, "audit")


def audit_rate(backend: str, label: str, who: Principal, calls: int) -> Rate:
    """`AuditLog(store).append(event)`, one transaction each, on a fresh store; the chain checked after."""
    event = intake_event(who)
    with _store(backend) as store:
        log = AuditLog(store)
        rate = measure(f"`AuditLog(store).append(event)` ({label})", lambda: log.append(event), calls)
        count, problems = log.verify()
        expected = min(200, calls) + 2 * calls
        assert count == expected and not problems, (count, expected, problems[:3])
    return rate
