"""SQLite called from the event loop (``db.sqlite_inline``): a lock held by another process is
waited for with async sleeps, so the loop keeps serving; a wait past the patience fails
cleanly; checkpoints run beside the writers."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from panelpilot.db import sqlite_inline
from panelpilot.db.engine import Database
from panelpilot.tenancy.models import Workspace


@pytest.fixture
def sqlite_path(db_kind: str, database_url: str) -> str:
    if db_kind != "sqlite":
        pytest.skip("SQLite only")
    path = make_url(database_url).database
    assert path
    return path


async def test_a_write_waits_for_another_process_lock_and_the_loop_keeps_running(
        sqlite_path: str) -> None:
    db = Database(f"sqlite:///{sqlite_path}")
    other = sqlite3.connect(sqlite_path, isolation_level=None)  # "another process"
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    async def write() -> float:
        async with db.connection() as conn:
            await conn.execute(text("INSERT INTO workspaces (slug, name, status, settings, "
                                    "config_version, created_at, updated_at) VALUES ('w', 'W', "
                                    "'active', '{}', 0, '2026-01-01', '2026-01-01')"))
        return time.monotonic()

    ticking = asyncio.create_task(ticker())
    writing = asyncio.create_task(write())
    await asyncio.sleep(0.2)
    assert not writing.done()  # still waiting for the lock …
    assert ticks > 20  # … without blocking the loop
    released = time.monotonic()
    other.execute("COMMIT")
    assert await asyncio.wait_for(writing, 5) >= released
    ticking.cancel()
    async with db.read_session() as s:
        assert (await s.execute(select(Workspace.slug))).scalars().all() == ["w"]
    other.close()
    await db.dispose()


async def test_a_lock_held_past_the_patience_fails_cleanly(sqlite_path: str) -> None:
    other = sqlite3.connect(sqlite_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    mine = sqlite_inline.Connection(sqlite_path, timeout=0.05)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await mine.begin(immediate=True)
    assert 0.05 <= time.monotonic() - started < 2
    other.execute("ROLLBACK")
    await mine.begin(immediate=True)  # free again: taken at once
    await mine.rollback()
    await mine.close()
    other.close()


async def test_reads_go_on_beside_a_writer(sqlite_path: str) -> None:
    db = Database(f"sqlite:///{sqlite_path}")
    other = sqlite3.connect(sqlite_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    async with db.read_session() as s:  # WAL: a reader never waits for the writer
        assert (await s.execute(select(Workspace.id))).all() == []
    other.execute("ROLLBACK")
    other.close()
    await db.dispose()


async def test_checkpoints_copy_the_wal_into_the_database(sqlite_path: str) -> None:
    db = Database(f"sqlite:///{sqlite_path}")
    async with db.connection() as conn:
        for n in range(50):
            await conn.execute(text(
                "INSERT INTO workspaces (slug, name, status, settings, config_version, "
                f"created_at, updated_at) VALUES ('w{n}', 'W', 'active', '{{}}', 0, "
                "'2026-01-01', '2026-01-01')"))
    await db.dispose()
    checkpointer = sqlite_inline.Checkpointer.for_path(sqlite_path)
    checkpointer._run()
    probe = sqlite3.connect(sqlite_path)
    busy, log, done = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and log == done  # nothing left in the WAL that is not in the file
    probe.close()
