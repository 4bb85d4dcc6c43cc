"""One settings object, read once from the VOORZORG_* environment.

Every knob an operator can turn lives here, so the README's configuration table and the code cannot
drift apart: `Settings.describe()` is what the README lists.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAPPINGS_DIR = PROJECT_ROOT / "mappings"
PROFILES_DIR = PROJECT_ROOT / "profiles"

#: The canonical base of the project's own conformance resources (CodeSystems, profiles, ...).
CANONICAL_BASE = "https://fhir.voorzorg.nl"

KNOWN_MODULES = ("voorzorg-2", "late-start")


def _modules(raw: str) -> frozenset[str]:
    modules = frozenset(m.strip() for m in raw.split(",") if m.strip())
    unknown = modules - set(KNOWN_MODULES)
    if unknown:
        raise ValueError(
            f"VOORZORG_TRAINED_MODULES: unknown {sorted(unknown)}; known: {', '.join(KNOWN_MODULES)}"
        )
    return modules


def _issuers(raw: str) -> dict[str, str]:
    """`https://as.example/realm=https://as.example/realm/jwks,...` -> {issuer: jwks_url}."""
    out: dict[str, str] = {}
    for part in raw.split(","):
        if part.strip():
            issuer, sep, jwks = part.strip().partition("=")
            if not sep or not jwks:
                raise ValueError(f"VOORZORG_TRUSTED_ISSUERS: {part!r} is not ISSUER=JWKS_URL")
            out[issuer] = jwks
    return out


def _networks(raw: str) -> tuple[str, ...]:
    """`10.0.0.1, 10.1.0.0/16` -> the networks, normalised; ValueError naming what is not one."""
    out = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            out.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(
                f"VOORZORG_TRUSTED_PROXIES: {part!r} is no IP address or network (CIDR)"
            ) from None
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path("data"))
    database_url: str = ""
    base_url: str = "http://127.0.0.1:8080"
    # VOORZORG_BASE_URL was set: `serve --port` then leaves the base URL alone (adapter/instance.py).
    explicit_base_url: bool = False
    trained_modules: frozenset[str] = frozenset(KNOWN_MODULES)
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 64
    default_page_size: int = 50
    max_page_size: int = 500
    # The JGZ organisation that runs this adapter ("system|value", URA), named in Tasks and audit.
    organization: str = "http://fhir.nl/fhir/NamingSystem/ura|00000000"
    # VoorZorg Consult, the national expert team (NCJ): owner of the consult requests ("system|value").
    consult_organization: str = "http://fhir.nl/fhir/NamingSystem/ura|00000001"
    audience: str = ""  # expected `aud` of bearer tokens; default: the base URL
    trusted_issuers: dict[str, str] = field(default_factory=dict)  # external issuer -> its JWKS URL
    # How long an external issuer's JWKS is kept: a key it withdraws is trusted at most this long.
    # 0 fetches the JWKS for every token (immediate withdrawal, one HTTP call per request).
    jwks_cache_seconds: float = 60.0
    clients_file: Path | None = None  # registered clients of the embedded token endpoint (YAML)
    token_lifetime: int = 300
    # The longest a bearer token may live (exp - iat), whoever issued it: a stolen token is worth little.
    max_token_lifetime: int = 3600
    # Proxies whose X-Forwarded-For is believed (IP addresses or CIDR networks); none: the socket's address.
    trusted_proxies: tuple[str, ...] = ()
    insecure_no_auth: bool = False  # only by `serve --insecure-dev-no-auth`, announced loudly
    cors_origins: tuple[str, ...] = ()  # CORS is closed unless origins are listed
    request_timeout: float = 30.0
    # The audit chain's key (adapter/security/audit_keys.py): secrets from the environment, else a file.
    audit_key: str = field(default="", repr=False)  # VOORZORG_AUDIT_KEY: secret(s), the last current
    audit_key_file: Path | None = None  # VOORZORG_AUDIT_KEY_FILE; default: audit-key in the data dir
    # Exchange with peers (adapter/exchange): none configured = nothing is queued, the worker idles.
    peers_file: Path | None = None  # YAML of peers (JGZ dossier, ...); see the README section "Exchange"
    worker: str = "in-process"  # in-process: the API process delivers the outbox; off: run `worker`
    outbox_poll_interval: float = 1.0  # seconds between looks at the outbox when it was empty
    outbox_max_attempts: int = 10  # tries before a message is parked as dead (a peer may say otherwise)
    outbox_backoff: float = 2.0  # seconds before the 2nd try; doubling (with jitter) after that
    outbox_backoff_max: float = 600.0  # the longest wait between two tries
    # seconds a worker's lease of the message it is sending lasts; extended every third of it while the
    # worker lives, so a worker that dies or stalls holds that one message up this long at most
    outbox_lease: float = 30.0
    outbox_circuit_failures: int = 5  # consecutive failed requests to a peer that open its circuit
    outbox_circuit_interval: float = 30.0  # seconds between probes of a peer whose circuit is open
    # Subscription endpoints must be https; VOORZORG_SUBSCRIPTION_ALLOW_HTTP=true also takes http (tests,
    # a subscriber on the same host).
    subscription_allow_http: bool = False
    # The key of the research export's pseudonyms (adapter/export/pseudonymise.py): a secret from the
    # environment, else a file (default: pseudonym-key in the data dir, made on first use). Changing it
    # changes every pseudonym: research data exported before no longer links to what is exported after.
    pseudonym_key: str = field(default="", repr=False)  # VOORZORG_PSEUDONYM_KEY
    pseudonym_key_file: Path | None = None  # VOORZORG_PSEUDONYM_KEY_FILE
    # Hours a completed export's files are kept: then they are deleted and the job answers 404.
    export_keep_hours: float = 24.0
    # The coordinator's dashboard (/dashboard, adapter/dashboard): local users, and the session's idle time.
    users_file: Path | None = None  # VOORZORG_USERS_FILE; default: users.yaml in the data dir
    dashboard_session_minutes: float = 30.0  # a session unused this long is over (login again)
    # OpenID Connect login at the organisation's identity provider (none: local users only).
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = field(default="", repr=False)
    oidc_role_claim: str = "voorzorg_role"  # the ID token claim that names the person's role
    oidc_organization_claim: str = "organization"  # the claim naming the organisation ("system|value")
    # Monitoring: the audience of a MeasureReport when the caller names none (VOORZORG_REPORT_AUDIENCE):
    # internal (exact counts) or external (counts 1-9 shown as "< 10", mappings/measures.yaml).
    report_audience: str = "internal"

    def __post_init__(self) -> None:
        if self.token_lifetime > self.max_token_lifetime:
            raise ValueError(
                f"VOORZORG_TOKEN_LIFETIME ({self.token_lifetime}) exceeds VOORZORG_MAX_TOKEN_LIFETIME "
                f"({self.max_token_lifetime}): the adapter would refuse its own tokens"
            )

    @property
    def effective_database_url(self) -> str:
        """SQLite under the data directory unless an explicit URL says otherwise (zero set-up)."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'voorzorg.db').as_posix()}"

    @property
    def effective_audience(self) -> str:
        return self.audience or self.base_url

    @property
    def issuer(self) -> str:
        """The embedded token issuer's identifier (`iss`)."""
        return f"{self.base_url}/auth"

    @property
    def issuer_key_path(self) -> Path:
        return self.data_dir / "issuer-key.pem"

    @property
    def effective_audit_key_file(self) -> Path:
        return self.audit_key_file or self.data_dir / "audit-key"

    @property
    def audit_checkpoint_dir(self) -> Path:
        """Where `voorzorg-adapter audit checkpoint` keeps its copies, and `audit verify` looks."""
        return self.data_dir / "audit-checkpoints"

    @property
    def effective_pseudonym_key_file(self) -> Path:
        return self.pseudonym_key_file or self.data_dir / "pseudonym-key"

    @property
    def export_dir(self) -> Path:
        """Where Bulk Data exports write their NDJSON files, a directory per job."""
        return self.data_dir / "exports"

    @property
    def effective_users_file(self) -> Path:
        return self.users_file or self.data_dir / "users.yaml"

    @property
    def effective_clients_file(self) -> Path:
        return self.clients_file or self.data_dir / "clients.yaml"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        return cls(
            data_dir=Path(e.get("VOORZORG_DATA_DIR", "data")),
            database_url=e.get("VOORZORG_DATABASE_URL", ""),
            base_url=(e.get("VOORZORG_BASE_URL") or "http://127.0.0.1:8080").rstrip("/"),
            explicit_base_url=bool(e.get("VOORZORG_BASE_URL")),
            trained_modules=_modules(e.get("VOORZORG_TRAINED_MODULES", ",".join(KNOWN_MODULES))),
            max_body_bytes=int(e.get("VOORZORG_MAX_BODY_BYTES", str(1024 * 1024))),
            max_json_depth=int(e.get("VOORZORG_MAX_JSON_DEPTH", "64")),
            default_page_size=int(e.get("VOORZORG_PAGE_SIZE", "50")),
            max_page_size=int(e.get("VOORZORG_MAX_PAGE_SIZE", "500")),
            organization=e.get("VOORZORG_ORGANIZATION", "http://fhir.nl/fhir/NamingSystem/ura|00000000"),
            consult_organization=e.get(
                "VOORZORG_CONSULT_ORGANIZATION", "http://fhir.nl/fhir/NamingSystem/ura|00000001"
            ),
            audience=e.get("VOORZORG_AUDIENCE", ""),
            trusted_issuers=_issuers(e.get("VOORZORG_TRUSTED_ISSUERS", "")),
            jwks_cache_seconds=_non_negative(
                "VOORZORG_JWKS_CACHE_SECONDS", e.get("VOORZORG_JWKS_CACHE_SECONDS", "60")
            ),
            clients_file=Path(e["VOORZORG_CLIENTS_FILE"]) if e.get("VOORZORG_CLIENTS_FILE") else None,
            token_lifetime=int(e.get("VOORZORG_TOKEN_LIFETIME", "300")),
            max_token_lifetime=int(e.get("VOORZORG_MAX_TOKEN_LIFETIME", "3600")),
            trusted_proxies=_networks(e.get("VOORZORG_TRUSTED_PROXIES", "")),
            cors_origins=tuple(o.strip() for o in e.get("VOORZORG_CORS_ORIGINS", "").split(",") if o.strip()),
            request_timeout=float(e.get("VOORZORG_REQUEST_TIMEOUT", "30")),
            audit_key=e.get("VOORZORG_AUDIT_KEY", ""),
            audit_key_file=Path(e["VOORZORG_AUDIT_KEY_FILE"]) if e.get("VOORZORG_AUDIT_KEY_FILE") else None,
            peers_file=Path(e["VOORZORG_PEERS_FILE"]) if e.get("VOORZORG_PEERS_FILE") else None,
            worker=_worker_mode(e.get("VOORZORG_WORKER", "in-process")),
            outbox_poll_interval=float(e.get("VOORZORG_OUTBOX_POLL_INTERVAL", "1")),
            outbox_max_attempts=int(e.get("VOORZORG_OUTBOX_MAX_ATTEMPTS", "10")),
            outbox_backoff=float(e.get("VOORZORG_OUTBOX_BACKOFF", "2")),
            outbox_backoff_max=float(e.get("VOORZORG_OUTBOX_BACKOFF_MAX", "600")),
            outbox_lease=_positive("VOORZORG_OUTBOX_LEASE", e.get("VOORZORG_OUTBOX_LEASE", "30")),
            outbox_circuit_failures=int(e.get("VOORZORG_OUTBOX_CIRCUIT_FAILURES", "5")),
            outbox_circuit_interval=_non_negative(
                "VOORZORG_OUTBOX_CIRCUIT_INTERVAL", e.get("VOORZORG_OUTBOX_CIRCUIT_INTERVAL", "30")
            ),
            subscription_allow_http=_yes(e.get("VOORZORG_SUBSCRIPTION_ALLOW_HTTP", "")),
            pseudonym_key=e.get("VOORZORG_PSEUDONYM_KEY", ""),
            pseudonym_key_file=(
                Path(e["VOORZORG_PSEUDONYM_KEY_FILE"]) if e.get("VOORZORG_PSEUDONYM_KEY_FILE") else None
            ),
            export_keep_hours=_positive(
                "VOORZORG_EXPORT_KEEP_HOURS", e.get("VOORZORG_EXPORT_KEEP_HOURS", "24"), "hours"
            ),
            users_file=Path(e["VOORZORG_USERS_FILE"]) if e.get("VOORZORG_USERS_FILE") else None,
            dashboard_session_minutes=_positive(
                "VOORZORG_DASHBOARD_SESSION_MINUTES", e.get("VOORZORG_DASHBOARD_SESSION_MINUTES", "30")
            ),
            oidc_issuer=e.get("VOORZORG_OIDC_ISSUER", "").rstrip("/"),
            oidc_client_id=e.get("VOORZORG_OIDC_CLIENT_ID", ""),
            oidc_client_secret=e.get("VOORZORG_OIDC_CLIENT_SECRET", ""),
            oidc_role_claim=e.get("VOORZORG_OIDC_ROLE_CLAIM", "voorzorg_role"),
            oidc_organization_claim=e.get("VOORZORG_OIDC_ORGANIZATION_CLAIM", "organization"),
            report_audience=_audience(e.get("VOORZORG_REPORT_AUDIENCE", "internal")),
        )


def _audience(raw: str) -> str:
    value = raw.strip().lower() or "internal"
    if value not in ("internal", "external"):
        raise ValueError(f"VOORZORG_REPORT_AUDIENCE={raw!r}: internal or external")
    return value


def _yes(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _non_negative(name: str, raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError(f"{name}: {raw!r}; a number of seconds, 0 or more")
    return value


def _positive(name: str, raw: str, unit: str = "seconds") -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError(f"{name}: {raw!r}; a number of {unit}, more than 0")
    return value


def _worker_mode(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in ("in-process", "off"):
        raise ValueError(f"VOORZORG_WORKER: {raw!r}; one of in-process, off")
    return mode
