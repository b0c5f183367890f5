"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_only

from panelpilot.db import fast, sqlite_inline
from panelpilot.db.scoping import PLATFORM_KEY, SCOPE_KEY

READ_ONLY = "panelpilot_read_only"
_writing: contextvars.ContextVar[bool] = contextvars.ContextVar("writing", default=False)


class PriorityLock:
    """An asyncio lock where urgent waiters (webhook acks) go before the others (workers)."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (
            deque(), deque())

    async def acquire(self, urgent: bool = False) -> None:
        if not self._locked and not any(self._waiters):
            self._locked = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiters[0 if urgent else 1]
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # it was handed to us just as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # release() may have dropped it
                    queue.remove(future)
            raise

    def release(self) -> None:
        for queue in self._waiters:
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)  # the lock passes on, still held
                    return
        self._locked = False


def normalize_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine whose connections call SQLite from the event loop (``sqlite_inline``); waits
    for another process's lock are async sleeps, up to 30 s."""
    path = make_url(url).database
    if not path or path == ":memory:":
        raise ValueError("in-memory SQLite is not supported; use a file")
    engine = create_async_engine(url, async_creator=sqlite_inline.creator(path, 30.0), **kwargs)
    _sqlite_setup(engine)
    return engine


def _sqlite_setup(engine: AsyncEngine) -> None:
    sync = engine.sync_engine

    @event.listens_for(sync, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself (the driver's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        # writes fails with SQLITE_BUSY, without waiting, when another writer got in between.
        # Read-only sessions say so and run deferred, beside the writer (WAL). Sent straight to
        # the driver: through SQLAlchemy a statement costs ~80 µs, and every transaction has one.
        immediate = not conn.get_execution_options().get(READ_ONLY)
        await_only(conn.connection.driver_connection.begin(immediate))


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine: AsyncEngine
        if self.is_sqlite:
            # As many as on PostgreSQL: the hot path keeps about eight open (KeptConnection).
            self.engine = _sqlite_engine(self.url, echo=echo, pool_size=pool_size,
                                         max_overflow=pool_size)
        else:
            # No pre-ping: it costs a round trip (~0.2 ms) per transaction. After a lost
            # connection (a restarted server) the first statement on it fails and SQLAlchemy
            # drops the whole pool; workers retry, webhooks answer 5xx and are sent again.
            self.engine = create_async_engine(self.url, echo=echo, pool_size=pool_size,
                                              max_overflow=pool_size)
        self._factory = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = PriorityLock()
        self._kept: set[KeptConnection] = set()

    @contextlib.asynccontextmanager
    async def _write(self, urgent: bool = False) -> AsyncIterator[None]:
        """On SQLite, one write transaction at a time in this process.

        SQLite has one writer anyway; queueing here costs nothing, while letting connections
        race for the file lock makes the losers sleep in SQLite's busy handler.
        """
        if not self.is_sqlite:
            yield
            return
        if _writing.get():
            raise RuntimeError("a write transaction inside another one (would deadlock SQLite)")
        token = _writing.set(True)
        try:
            await self._write_lock.acquire(urgent)
            try:
                yield
            finally:
                self._write_lock.release()
        finally:
            _writing.reset(token)

    @classmethod
    def unpooled(cls, url: str) -> Database:
        """A database handle that opens a fresh connection each time (CLI one-shots)."""
        db = cls.__new__(cls)
        db.url = normalize_url(url)
        db.is_sqlite = db.url.startswith("sqlite")
        db.engine = (_sqlite_engine(db.url, poolclass=NullPool) if db.is_sqlite
                     else create_async_engine(db.url, poolclass=NullPool))
        db._factory = async_sessionmaker(db.engine, expire_on_commit=False)
        db._write_lock = PriorityLock()
        db._kept = set()
        return db

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.asynccontextmanager
    async def session(self, workspace_id: int) -> AsyncIterator[AsyncSession]:
        """A transaction that sees and writes only one workspace's rows."""
        async with self._write(), self._factory() as session:
            session.info[SCOPE_KEY] = workspace_id
            async with session.begin():
                yield session

    @contextlib.asynccontextmanager
    async def platform_session(self, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A transaction across all workspaces, for platform owners and background workers.

        ``urgent`` writes (storing webhooks, which someone is waiting on) go first on SQLite.
        """
        async with self._write(urgent), self._factory() as session:
            session.info[PLATFORM_KEY] = True
            async with session.begin():
                yield session

    @contextlib.asynccontextmanager
    async def read_session(self, workspace_id: int | None = None) -> AsyncIterator[AsyncSession]:
        """A read-only look (one workspace's, or platform-wide without ``workspace_id``).

        On SQLite it does not take the write lock, so readers never queue behind writers.
        """
        async with self._factory() as session:
            if workspace_id is None:
                session.info[PLATFORM_KEY] = True
            else:
                session.info[SCOPE_KEY] = workspace_id
            async with session.begin():
                await session.connection(execution_options={READ_ONLY: True})
                yield session

    @contextlib.asynccontextmanager
    async def connection(self, *, write: bool = True,
                         urgent: bool = False) -> AsyncIterator[AsyncConnection]:
        """A plain Core connection in a transaction, for the spine's hot path: no ORM
        bookkeeping, and no workspace scoping, so its statements must name their rows (by id,
        or by a claim). ``write=False`` reads beside the writer on SQLite, as
        ``read_session`` does."""
        if not write:
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(**{READ_ONLY: True})
                async with conn.begin():
                    yield conn
            return
        async with self._write(urgent), self.engine.begin() as conn:
            yield conn

    def kept(self, *, write: bool = True, urgent: bool = False) -> KeptConnection:
        """A connection kept open for one sequential user of the hot path (see
        ``KeptConnection``)."""
        return KeptConnection(self, write=write, urgent=urgent)

    @contextlib.asynccontextmanager
    async def bare_session(self) -> AsyncIterator[AsyncSession]:
        """A transaction with no scope: workspace-scoped models can not be queried in it."""
        async with self._write(), self._factory() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        for kept in list(self._kept):
            await kept.close()
        await self.engine.dispose()


class KeptConnection:
    """One connection held open by a user that runs one transaction at a time (a group
    commit, a claim loop), instead of taking one from the pool for each.

    Taking a connection from the pool and handing it back (with its reset) costs about as much
    as the transaction's statements on the hot path (measured: a one-statement transaction
    0.45 → 0.26 ms on SQLite, 0.83 → 0.62 ms on PostgreSQL). A connection that failed is
    dropped and the next transaction opens a new one.
    """

    def __init__(self, db: Database, *, write: bool, urgent: bool) -> None:
        self.db = db
        self.write = write
        self.urgent = urgent
        self._conn: AsyncConnection | None = None
        db._kept.add(self)

    async def _open(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = await self.db.engine.connect()
            if not self.write:
                await self._conn.execution_options(**{READ_ONLY: True})
        return self._conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A Core transaction, as ``Database.connection`` gives; writes queued with
        ``fast.later`` run at its end."""
        async with contextlib.AsyncExitStack() as stack:
            if self.write:
                await stack.enter_async_context(self.db._write(self.urgent))
            conn = await self._open()
            try:
                async with conn.begin(), fast.collecting(conn):
                    yield conn
            except BaseException:
                await self._drop_if_broken()
                raise

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A platform-wide ORM session in a transaction of this connection, made only when
        used (see ``LazySession``)."""
        async with self.transaction() as conn:
            lazy = LazySession(conn)
            try:
                yield cast(AsyncSession, lazy)
                await lazy.commit()
            finally:
                await lazy.close()

    async def _drop_if_broken(self) -> None:
        conn = self._conn
        if conn is not None and (conn.invalidated or conn.in_transaction()):
            self._conn = None
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        self.db._kept.discard(self)
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close()


class LazySession:
    """Stands in for the AsyncSession of a transaction, and makes the real one only when used.

    Most writes on the hot path only run Core statements on the transaction's connection
    (``await session.connection()``); making, committing and closing an ORM session for them
    costs more than their statements (~0.2 ms a transaction). ``connection()``, ``info`` and
    ``flush()`` are answered without one; anything else makes the session, which joins the
    connection's transaction ("rollback_only" for a transaction begun outside it): its commit
    flushes, the transaction's end commits.
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._session: AsyncSession | None = None
        self._info: dict[Any, Any] = {PLATFORM_KEY: True}

    async def connection(self, **_: Any) -> AsyncConnection:
        return self._conn

    @property
    def info(self) -> dict[Any, Any]:
        return self._session.info if self._session is not None else self._info

    async def flush(self, objects: Any = None) -> None:
        if self._session is not None:
            await self._session.flush(objects)

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = AsyncSession(bind=self._conn, expire_on_commit=False)
            self._session.info.update(self._info)
        return getattr(self._session, name)

    async def commit(self) -> None:
        if self._session is not None:
            await self._session.commit()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
