"""Alembic environment: runs on the connection the adapter hands it (see `adapter.store.migrate`)."""

from alembic import context

from adapter.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the adapter always passes its connection
    raise RuntimeError("run migrations through `voorzorg-adapter migrate`, which supplies the connection")
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
