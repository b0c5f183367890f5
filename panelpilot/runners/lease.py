"""Leases in the database: a runner runs on the node that holds its lease, on no other."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.db.base import utcnow
from panelpilot.db.engine import Database
from panelpilot.db.inserts import insert_ignoring
from panelpilot.runners.models import RunnerState

NODE_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def insert_ignore(session: AsyncSession, model: Any, values: dict[str, Any]) -> int:
    """INSERT … ON CONFLICT DO NOTHING on either database; how many rows it made (0 or 1).

    The statement is built once per table and dialect and run on the session's connection
    (plain Core, no ORM bookkeeping): the spine inserts this way on every message.
    """
    if session.new or session.dirty or session.deleted:
        await session.flush()  # as the ORM would before a statement: rows this one may need
    conn = await session.connection()
    result = await conn.execute(insert_ignoring(model, conn.dialect.name), values)
    return max(0, int(getattr(result, "rowcount", 0) or 0))


async def acquire(db: Database, name: str, ttl: float, holder: str = NODE_ID) -> bool:
    """Take or renew the lease; False if another live node holds it."""
    now = utcnow()
    async with db.platform_session() as session:
        await insert_ignore(session, RunnerState, {"name": name, "info": {}, "runs": 0,
                                                   "last_error": ""})
        result = await session.execute(
            update(RunnerState)
            .where(
                RunnerState.name == name,
                or_(RunnerState.holder == holder, RunnerState.holder.is_(None),
                    RunnerState.lease_until < now),
            )
            .values(holder=holder, lease_until=now + timedelta(seconds=ttl))
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


async def release(db: Database, name: str, holder: str = NODE_ID) -> None:
    async with db.platform_session() as session:
        await session.execute(
            update(RunnerState)
            .where(RunnerState.name == name, RunnerState.holder == holder)
            .values(holder=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )


async def record(
    db: Database, name: str, *, error: str | None = None, info: dict[str, Any] | None = None
) -> None:
    """Note a run: its time, success or error, and what it wants to show as health."""
    now = utcnow()
    async with db.platform_session() as session:
        row = await session.get(RunnerState, name)
        if row is None:
            return
        row.last_run_at = now
        row.runs = (row.runs or 0) + 1
        if error is None:
            row.last_ok_at = now
        else:
            row.last_error, row.last_error_at = error[:1000], now
        if info is not None:
            row.info = info


async def states(db: Database) -> list[RunnerState]:
    async with db.read_session() as session:
        return list((await session.execute(select(RunnerState).order_by(RunnerState.name)))
                    .scalars())
