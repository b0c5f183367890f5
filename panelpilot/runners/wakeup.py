"""Wake-ups across processes: work stored by another process wakes this one's workers at once,
not at their next poll (``PANELPILOT_INBOX_POLL_INTERVAL``, 0.2 s).

Inside one process, ``ingest.wake_workers`` and ``enqueue.wake_senders`` set the loops' events
directly. Across processes (a web node and worker nodes):

- PostgreSQL: the transaction that stores work also runs ``pg_notify`` (delivered when it
  commits), and each worker process LISTENs on a connection of its own.
- SQLite: a worker process looks at the file's ``PRAGMA data_version``, which moves whenever
  another connection commits, on a plain ``sqlite3`` connection of its own (a few microseconds
  a look): every 2 ms while it moves, every 20 ms once it stood still for 0.25 s. When it
  moved, two indexed existence checks say which loop has work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from panelpilot.context import Context
from panelpilot.db import fast

log = logging.getLogger(__name__)
CHANNEL = "panelpilot_work"
INBOX, OUTBOX = "inbox", "outbox"
LOOK_EVERY = 0.002  # seconds between looks at SQLite's data_version while it moves,
IDLE_LOOK_EVERY = 0.02  # and once it stood still for 0.25 s (a look costs a loop wake-up)
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :what)")
# What the loops would find; cheap and indexed, not the claims' full "ready" rules: a wake
# that finds nothing claimable costs one claim.
_HAS_INBOX = "SELECT 1 FROM inbound_events WHERE status = 'new' LIMIT 1"
_HAS_OUTBOX = ("SELECT 1 FROM outbound_messages WHERE status = 'queued' "
               "AND next_attempt_at <= ? LIMIT 1")


async def notify(ctx: Context, conn: AsyncConnection | AsyncSession, what: str) -> None:
    """Tell other processes' workers there is work (PostgreSQL, delivered on commit), in the
    transaction that stores it. Not when this process runs that loop itself (its in-process
    signal wakes it at once); SQLite needs nothing: watchers see the commit itself."""
    if what in _running(ctx):
        return
    if not isinstance(conn, AsyncConnection):
        conn = await conn.connection()
    if conn.dialect.name == "postgresql":
        await fast.run(conn, _NOTIFY, {"what": what})


def _running(ctx: Context) -> set[str]:
    running: set[str] = ctx.singleton("loops_running_here", set)
    return running


@contextlib.contextmanager
def running_here(ctx: Context, what: str) -> Iterator[None]:
    """Mark the inbox or outbox loop as running in this process while the block runs."""
    _running(ctx).add(what)
    try:
        yield
    finally:
        _running(ctx).discard(what)


def _signal(ctx: Context, what: str) -> None:
    name = "inbox_signal" if what == INBOX else "outbox_signal"
    event: asyncio.Event = ctx.singleton(name, asyncio.Event)
    event.set()


async def wake_from_other_processes(ctx: Context, stop: asyncio.Event) -> None:
    """Run until ``stop``: turn other processes' stored work into this process's signals."""
    try:
        if ctx.db.is_sqlite:
            await _watch_sqlite(ctx, stop)
        else:
            await _listen_postgresql(ctx, stop)
    except asyncio.CancelledError:
        raise
    except Exception:
        # The loops still poll: a lost listener costs latency, not work.
        log.exception("cross-process wake-ups stopped; the workers poll instead")


async def _listen_postgresql(ctx: Context, stop: asyncio.Event) -> None:
    import asyncpg

    url = make_url(ctx.db.url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await conn.add_listener(CHANNEL, lambda *args: _signal(ctx, str(args[3])))
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await conn.close()


async def _watch_sqlite(ctx: Context, stop: asyncio.Event) -> None:
    from panelpilot.db.base import utcnow

    path = make_url(ctx.db.url).database
    assert path
    # Read-only and never waiting: a look that meets a lock just tries again next time.
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0,
                           isolation_level=None, check_same_thread=False)
    try:
        seen = None
        moved = time.monotonic()
        while not stop.is_set():
            try:
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                if version != seen:
                    seen, moved = version, time.monotonic()
                    if conn.execute(_HAS_INBOX).fetchone():
                        _signal(ctx, INBOX)
                    # As SQLAlchemy stores datetimes in SQLite: UTC text.
                    due = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
                    if conn.execute(_HAS_OUTBOX, (due,)).fetchone():
                        _signal(ctx, OUTBOX)
            except sqlite3.OperationalError:
                pass  # busy or locked right now: look again
            busy = time.monotonic() - moved < 0.25
            await asyncio.sleep(LOOK_EVERY if busy else IDLE_LOOK_EVERY)
    finally:
        conn.close()
