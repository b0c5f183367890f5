"""Claiming rows of a work queue (inbound events, outbound messages) as leases.

A queue describes itself once with ``ClaimQuery``: the statement that picks claimable ids
(oldest first, with the parameter ``now``), what "ready" means for one row, and what a claim
writes and returns. ``claim_rows`` then runs it:

- a read-only probe first, so idle workers never queue for the write lock (SQLite);
- on SQLite, pick and take in one UPDATE (writers are serialized anyway);
- on PostgreSQL, in one statement: pick a few more than wanted, lock up to the limit of them
  with ``FOR UPDATE SKIP LOCKED`` (workers claiming at once skip each other's rows instead of
  waiting for them), then take the locked ones.

Either way the UPDATE checks "ready" again on the row it changes, so a row is never taken
twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, Select, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from panelpilot.db import fast
from panelpilot.db.base import UtcDateTime, utcnow
from panelpilot.db.engine import Database

PICK_SPARE = 4


def now_param() -> Any:
    """The ``now`` parameter every claim statement shares."""
    return bindparam("now", type_=UtcDateTime())


class claimed_at(FunctionElement[Any]):  # noqa: N801 - used like a SQL function
    """When a row was taken: ``now``, and on PostgreSQL never before the statement saw it.

    A PostgreSQL statement sees commits made after ``now`` was read in Python (the claim
    goes over the network first), so a row that became claimable only by such a commit
    would look taken before it was released. The database's clock at the row's update
    comes after every commit the statement saw.
    """

    type = UtcDateTime()
    inherit_cache = True

    def __init__(self) -> None:
        super().__init__(now_param())


@compiles(claimed_at)
def _claimed_at(element: claimed_at, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(claimed_at, "postgresql")
def _claimed_at_pg(element: claimed_at, compiler: Any, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)}, clock_timestamp())"


class ClaimQuery:
    """The statements of one queue's claim, built once (building SQLAlchemy expressions costs
    more than running them); ``limit``, ``until`` and ``ids`` are parameters too."""

    def __init__(self, model: Any, claimable: Select[Any], ready: Any,
                 values: dict[str, Any], returning: Sequence[Any]) -> None:
        limit = bindparam("limit", type_=Integer())

        def take(which: Any) -> Any:
            return (update(model).where(which, ready).values(**values).returning(*returning)
                    .execution_options(synchronize_session=False))

        self.probe = claimable.limit(1)
        # SQLite: writers are serialized, so pick and take in one UPDATE.
        self.claim = take(model.id.in_(claimable.limit(limit).correlate(None).scalar_subquery()))
        # PostgreSQL: pick a few more candidates than wanted (workers claiming at the same
        # moment pick the same ones, and each should still find rows the others have not
        # locked), lock up to the limit of them, skipping locked ones, and take those. The
        # locking step is a MATERIALIZED CTE: as a subquery inside the UPDATE, PostgreSQL may
        # run it again for each row and take more rows than the limit.
        candidates = claimable.limit(bindparam("pick_limit", type_=Integer())).subquery()
        locked = (select(model.id).where(model.id.in_(select(candidates)), ready)
                  .order_by(model.id).limit(limit).with_for_update(skip_locked=True)
                  .cte("locked").prefix_with("MATERIALIZED"))
        self.claim_locking = take(model.id.in_(select(locked.c.id)))


Then = Callable[[AsyncConnection, list[Any]], Awaitable[Any]]


class Claimer:
    """The connections a claim loop keeps: one to look for work, one to take it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.look = db.kept(write=False)
        self.take = db.kept()


async def claim_rows(db: Database, query: ClaimQuery, limit: int, lease: float,
                     params: dict[str, Any] | None = None, *, probe: bool = True,
                     then: Then | None = None, via: Claimer | None = None) -> list[Any]:
    """Take up to ``limit`` claimable rows for ``lease`` seconds; their returned columns.

    ``probe=False`` skips the read-only look for work, for callers told there is some.
    ``then(conn, rows)`` runs in the claim's transaction when rows were taken: what the work
    needs besides the rows is read there, not in a transaction of its own. ``via``: the kept
    connections of a claim loop (otherwise pooled ones).
    """
    params = dict(params or {})
    if probe:
        looking = via.look.transaction() if via else db.connection(write=False)
        async with looking as conn:
            if (await fast.run(conn, query.probe, {**params, "now": utcnow()})).first() is None:
                return []
    async with (via.take.transaction() if via else db.connection()) as conn:
        rows = await _take(db, conn, query, limit, lease, params)
        if rows and then is not None:
            await then(conn, rows)
        return rows


async def _take(db: Database, conn: AsyncConnection, query: ClaimQuery, limit: int,
                lease: float, params: dict[str, Any]) -> list[Any]:
    # The transaction began with the write lock on SQLite (BEGIN IMMEDIATE, see db.engine):
    # "now" is taken after any wait for it, so it is never older than a commit before us.
    now = utcnow()
    params.update(now=now, until=now + timedelta(seconds=lease), limit=limit)
    if db.is_sqlite:
        return (await fast.run(conn, query.claim, params)).all()
    return (await fast.run(conn, query.claim_locking,
                           {**params, "pick_limit": limit * PICK_SPARE})).all()
