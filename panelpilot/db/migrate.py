"""Alembic, driven from panelpilot: upgrade, current and head revisions, new revisions.

Developers make a new migration with ``python -m panelpilot.db.migrate revision "message"``
against a database at the previous head (autogenerate compares it with the models).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from panelpilot.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(db: Database) -> str | None:
    def read(connection: Any) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


async def upgrade(db: Database, revision: str = "head") -> None:
    def run(connection: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def downgrade(db: Database, revision: str) -> None:
    def run(connection: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def schema_status(db: Database) -> tuple[bool, str | None, str | None]:
    """(current?, the database's revision, the code's head revision)."""
    current = await current_revision(db)
    head = head_revision()
    return current == head, current, head


async def _revision(db: Database, message: str) -> None:
    def run(connection: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


if __name__ == "__main__":  # pragma: no cover - developer tool
    from panelpilot.settings import get_settings

    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        sys.exit('usage: python -m panelpilot.db.migrate revision "message"')
    asyncio.run(_revision(Database(get_settings().database_url), sys.argv[2]))
