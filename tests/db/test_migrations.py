"""Migrations run up from an empty database and down again, on the database under test."""

from __future__ import annotations

from sqlalchemy import inspect

from panelpilot.db.engine import Database
from panelpilot.db.migrate import downgrade, head_revision, schema_status, upgrade
from panelpilot.db.models import metadata


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_up_from_empty_down_and_up_again(database_url: str) -> None:
    db = Database.unpooled(database_url)
    try:
        await downgrade(db, "base")
        assert await schema_status(db) == (False, None, head_revision())
        assert not (await _tables(db)) & set(metadata.tables)
        await upgrade(db)
        assert await schema_status(db) == (True, head_revision(), head_revision())
        assert set(metadata.tables) <= await _tables(db)
    finally:
        await db.dispose()


async def test_models_match_migrations(database_url: str) -> None:
    """Autogenerate finds nothing to add: the migrations describe the models exactly."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = Database.unpooled(database_url)
    try:
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata)
            )
        assert diff == []
    finally:
        await db.dispose()
