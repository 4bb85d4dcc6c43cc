"""Tables of the store. The migrations under `migrations/versions/` create them; this module only
describes them for queries (production never runs `create_all`)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text

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

#: Business identifiers that must stay unique (client BSN, referral number): the database itself
#: refuses a second row, which is what keeps concurrent identical referrals from duplicating.
business_key = Table(
    "business_key",
    metadata,
    Column("res_type", String(64), primary_key=True),
    Column("system", String(255), primary_key=True),
    Column("value", String(255), primary_key=True),
    Column("res_id", String(64), nullable=False),
)
