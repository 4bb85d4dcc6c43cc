"""Tables of the store. The migrations under `migrations/versions/` create them; this module only
describes them for queries (production never runs `create_all`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

#: The current version of every resource.
resource = Table(
    "resource",
    metadata,
    Column("res_type", String(64), primary_key=True),
    Column("res_id", String(64), primary_key=True),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", String(32), nullable=False),  # FHIR instant, UTC, fixed width: sorts as text
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", Text, nullable=False),
    Index("ix_resource_type_updated", "res_type", "last_updated"),
)

#: Every version ever written, for vread and _history.
resource_version = Table(
    "resource_version",
    metadata,
    Column("res_type", String(64), primary_key=True),
    Column("res_id", String(64), primary_key=True),
    Column("version_id", Integer, primary_key=True),
    Column("last_updated", String(32), nullable=False),
    Column("method", String(8), nullable=False),
    Column("content", Text, nullable=False),
    # The referring organisation that wrote this version ("system|value"); NULL: the JGZ or the adapter.
    Column("author", String(255)),
)

#: One row per indexed search value of the current version.
search_index = Table(
    "search_index",
    metadata,
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("system", String(255)),
    Column("value", String(255)),
    Column("low", String(32)),
    Column("high", String(32)),
    Index("ix_search_value", "res_type", "param", "value"),
    Index("ix_search_resource", "res_type", "res_id"),
)

#: One row per dated activity of a stored CarePlan (adapter.store.plan_visits), kept with the current
#: version like the search index: what the monitoring's dosage counts, without walking the plans' JSON.
plan_visit = Table(
    "plan_visit",
    metadata,
    Column("res_id", String(64), nullable=False),  # the CarePlan
    Column("referral", String(255)),  # supportingInfo[0].reference
    Column("canonical", String(255)),  # instantiatesCanonical[0]
    Column("day", String(10), nullable=False),  # detail.scheduledPeriod.start, the date
    Column("status", String(32)),  # detail.status
    Column("kind", String(64)),  # the visit-kind extension's code (home-visit, evaluation, ...)
    Index("ix_plan_visit_referral", "referral", "day"),
    Index("ix_plan_visit_plan", "res_id"),
)

#: Business identifiers that must stay unique (client BSN, referral number): the database itself
#: refuses a second row, which is what keeps concurrent identical referrals from duplicating. `owner`
#: is the organisation whose numbering the key is in (a practice's referral numbers and the records it
#: sends); '' is the key space all share (the client's BSN).
business_key = Table(
    "business_key",
    metadata,
    Column("res_type", String(64), primary_key=True),
    Column("system", String(255), primary_key=True),
    Column("value", String(255), primary_key=True),
    Column("owner", String(255), primary_key=True, default=""),
    Column("res_id", String(64), nullable=False),
)

#: Which organisations have a part in a resource (besides the JGZ organisation, which has a part in
#: all): the obstetric practice that sent the referral. Reads and searches of other roles are limited
#: to these rows.
resource_access = Table(
    "resource_access",
    metadata,
    Column("res_type", String(64), primary_key=True),
    Column("res_id", String(64), primary_key=True),
    Column("organization", String(255), primary_key=True),  # "system|value" (URA or AGB)
    Index("ix_access_org", "organization", "res_type"),
)

#: NEN 7513 access log: append-only, each record carrying the hash of its predecessor.
audit_event = Table(
    "audit_event",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("recorded", String(32), nullable=False),
    Column("patient", String(128)),  # "Patient/id" of the client whose data was touched (first one)
    Column("content", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The key of the keyed digest (adapter/security/audit_keys.py); NULL: a plain SHA-256 digest, made
    # before the chain was keyed (migration 0005_relcore seals those).
    Column("key_id", String(32)),
    Index("ix_audit_patient", "patient"),
    Index("ix_audit_recorded", "recorded"),
)

#: Every client patient an audit record names, for `AuditEvent?patient=`.
audit_patient = Table(
    "audit_patient",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("patient", String(128), primary_key=True),
    Index("ix_audit_patient_ref", "patient"),
)

#: Client-assertion ids already used at the token endpoint (replay protection), until they expire.
used_assertion = Table(
    "used_assertion",
    metadata,
    Column("jti", String(255), primary_key=True),
    Column("expires", Integer, nullable=False),
)

#: The head of the audit chain (one row): removing the newest records shows as a head that points
#: past the last record.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

#: Transactional outbox: what must reach a peer, written in the same transaction as the change it
#: carries (adapter/exchange/outbox.py). Delivered in `id` order per (peer, client).
outbox_message = Table(
    "outbox_message",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flow", String(64), nullable=False),
    Column("kind", String(32), nullable=False),  # how it is delivered (a registered delivery)
    Column("peer", String(64), nullable=False),
    Column("client", String(128), nullable=False),  # "Patient/id" (or `ordered_by`'s key): orders with `peer`
    Column("created", String(32), nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("status", String(16), nullable=False),  # pending | delivered | dead | superseded
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", BigInteger, nullable=False),  # epoch milliseconds
    Column("locked_by", String(64)),
    Column("locked_until", BigInteger),  # epoch milliseconds: the claiming worker's lease
    # The lease's generation, one up at every claim: the fencing token a worker checks before each send
    Column("generation", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("delivered", String(32)),
    Index("ix_outbox_key", "peer", "client", "status", "id"),
    Index("ix_outbox_due", "status", "next_attempt"),
    sqlite_autoincrement=True,
)

#: The peer's id and versionId of each resource we sent it (If-Match on the next update).
peer_resource = Table(
    "peer_resource",
    metadata,
    Column("peer", String(64), primary_key=True),
    Column("res_type", String(64), primary_key=True),
    Column("res_id", String(64), primary_key=True),
    Column("peer_id", String(64), nullable=False),
    Column("version_id", String(64)),
    Column("updated", String(32), nullable=False),
)

#: Per Subscription: its event count and when something last went out to its endpoint
#: (adapter/store/subscription_state.py).
subscription_state = Table(
    "subscription_state",
    metadata,
    Column("sub_id", String(64), primary_key=True),
    Column("events", BigInteger, nullable=False, default=0),
    Column("last_sent", BigInteger),  # epoch milliseconds
)

#: A circuit breaker per peer, shared by every worker: `closed` (deliver), `open` (after consecutive
#: failed requests: nothing is sent until `retry_at`), `half-open` (one worker's probe is under way).
peer_circuit = Table(
    "peer_circuit",
    metadata,
    Column("peer", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("failures", Integer, nullable=False, default=0),  # consecutive failed requests
    Column("retry_at", BigInteger, nullable=False, default=0),  # epoch ms: the next probe (or its end)
    Column("probe_by", String(64)),
    Column("last_error", Text),
    Column("changed", String(32), nullable=False),
)

#: Bulk Data exports ($export, adapter/export): one row per kick-off, kept while its files are offered.
#: `status`: accepted | in-progress | completed | failed | cancelled. Who asked (client and organisation)
#: is the only one who may poll, download and cancel.
export_job = Table(
    "export_job",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("organization", String(255)),  # "system|value"; NULL: a token without one
    Column("role", String(64), nullable=False),
    Column("request", Text, nullable=False),  # the kick-off URL, as the manifest repeats it
    Column("params", Text, nullable=False),  # JSON: types, since, group members, pseudonymised
    Column("transaction_time", String(32), nullable=False),
    Column("updated", String(32), nullable=False),
    Column("progress", String(255)),
    Column("output", Text),  # JSON: [{type, file, count}] once completed
    Column("error", Text),
    Index("ix_export_status", "status"),
)
