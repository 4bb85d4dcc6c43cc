"""Peers: the FHIR servers the adapter sends to, from the YAML file `VOORZORG_PEERS_FILE` names.

    peers:
      jgz-dossier:
        base_url: https://dossier.example.nl/fhir
        auth: smart-backend          # none | client-credentials | smart-backend
        token_url: https://dossier.example.nl/auth/token
        client_id: voorzorg-adapter
        scope: system/*.cruds
        key_file: /etc/voorzorg/jgz-dossier-key.pem   # smart-backend: our EC P-256 key (ES256)
        # client_secret_env: JGZ_DOSSIER_SECRET       # client-credentials: the secret, from the environment
        timeout: 10                  # seconds per HTTP request
        retries: 3                   # extra tries within one delivery (connection errors, 429, 5xx)
        max_attempts: 10             # deliveries before a message is parked as dead (default: settings)
      de-wieg:                       # a practice that sends referrals: the peer is that sender when
        base_url: https://fhir.dewieg.example.nl/fhir   # `organization` names it (AGB or URA)
        organization: http://fhir.nl/fhir/NamingSystem/agb-z|09012345   # or a list of them

A sender (the `organization` of a referral's requester) with a peer gets its referral Task's status
pushed back (`adapter.exchange.feedback`) and may notify us of referrals to fetch (notified pull); a
sender without one polls (`GET /Task?_lastUpdated=gt…`).

Secrets never live in the file: a client secret comes from the environment variable it names, and the
key file holds our private key (created on first use, like the embedded issuer's; its public JWKS is
what the peer registers: `voorzorg-adapter peer-jwks NAME`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

AUTH_KINDS = ("none", "client-credentials", "smart-backend")


@dataclass(frozen=True)
class Peer:
    name: str
    base_url: str
    auth: str = "none"
    token_url: str | None = None
    client_id: str | None = None
    scope: str = ""
    key_file: Path | None = None
    client_secret_env: str | None = None
    timeout: float = 10.0
    retries: int = 3
    max_attempts: int | None = None  # None: the settings' VOORZORG_OUTBOX_MAX_ATTEMPTS
    organizations: tuple[str, ...] = ()  # "system|value": the referral senders this peer is

    @property
    def client_secret(self) -> str | None:
        return os.environ.get(self.client_secret_env) if self.client_secret_env else None


def load_peers(path: Path | None) -> dict[str, Peer]:
    """The configured peers by name; none when there is no file (a fresh install sends nothing)."""
    if path is None or not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {name: _peer(name, raw or {}) for name, raw in (data.get("peers") or {}).items()}


def _peer(name: str, raw: dict[str, Any]) -> Peer:
    where = f"peer {name!r}"
    if not raw.get("base_url"):
        raise ValueError(f"{where}: base_url is required")
    auth = str(raw.get("auth", "none"))
    if auth not in AUTH_KINDS:
        raise ValueError(f"{where}: auth {auth!r}; one of {', '.join(AUTH_KINDS)}")
    if auth != "none" and not (raw.get("token_url") and raw.get("client_id")):
        raise ValueError(f"{where}: auth {auth} needs token_url and client_id")
    if auth == "smart-backend" and not raw.get("key_file"):
        raise ValueError(f"{where}: auth smart-backend needs key_file (our EC P-256 private key)")
    if auth == "client-credentials" and not raw.get("client_secret_env"):
        raise ValueError(f"{where}: auth client-credentials needs client_secret_env")
    return Peer(
        name=name,
        base_url=str(raw["base_url"]).rstrip("/"),
        auth=auth,
        token_url=raw.get("token_url"),
        client_id=raw.get("client_id"),
        scope=str(raw.get("scope", "")),
        key_file=Path(raw["key_file"]) if raw.get("key_file") else None,
        client_secret_env=raw.get("client_secret_env"),
        timeout=float(raw.get("timeout", 10)),
        retries=int(raw.get("retries", 3)),
        max_attempts=int(raw["max_attempts"]) if raw.get("max_attempts") is not None else None,
        organizations=_organizations(where, raw.get("organization")),
    )


def _organizations(where: str, raw: Any) -> tuple[str, ...]:
    values = [raw] if isinstance(raw, str) else list(raw or [])
    for v in values:
        system, _, value = str(v).partition("|")
        if not system or not value:
            raise ValueError(f"{where}: organization {v!r} is not 'system|value' (an AGB or URA)")
    return tuple(str(v) for v in values)


def peer_of(peers: Mapping[str, Peer], organization: str | None) -> Peer | None:
    """The peer that is this organisation (a referral's sender), if one is configured."""
    if not organization:
        return None
    return next((p for p in peers.values() if organization in p.organizations), None)


_DCM = "http://dicom.nema.org/resources/ontology/DCM"
#: (event type, the peer's role) of a transfer, in DICOM terms as NEN 7513 readers know them
_TRANSFER = {
    "import": (("110107", "Import"), ("110153", "Source Role ID")),
    "export": (("110106", "Export"), ("110152", "Destination Role ID")),
}


def as_transfer(event: dict[str, Any], peer: Peer, direction: str) -> dict[str, Any]:
    """Make an AuditEvent the record of a transfer with ``peer`` ("import" or "export").

    The peer is named as an agent of its own (source or destination, with its network address), so
    a privacy officer reading the client's log sees where her data came from or went to.
    """
    (kind, kind_display), (role, role_display) = _TRANSFER[direction]
    event["type"] = {"system": _DCM, "code": kind, "display": kind_display}
    event["agent"].append(
        {
            "type": {"coding": [{"system": _DCM, "code": role, "display": role_display}]},
            "who": {"display": peer.name},
            "requestor": False,
            "network": {"address": urlsplit(peer.base_url).hostname or peer.base_url, "type": "1"},
        }
    )
    return event
