"""Alembic environment: runs on the connection panelpilot hands over (see panelpilot.db.migrate)."""

from alembic import context

from panelpilot.db.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `panelpilot migrate`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
