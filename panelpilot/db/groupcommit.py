"""Group commit and group read: many small database jobs from concurrent tasks share one
transaction.

A session costs far more than the statements of a typical job (about 1 ms of SQLAlchemy work
against 0.1 ms a statement), so the spine's hot path never opens one per message. Each caller
still awaits its own result: a writer returns once the transaction holding its write has
committed, exactly the guarantee it would have had alone; under load one commit serves many
callers, and when idle a caller waits for no one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from panelpilot.db.engine import Database
from panelpilot.db.scoping import PLATFORM_KEY, SCOPE_KEY

Write = Callable[[AsyncSession], Awaitable[None]]
# Work that writes share: run once for the items of all writes of a batch, before them.
Step = Callable[[AsyncSession, list[Any]], Awaitable[None]]
Pending = tuple[Write, int | None, tuple[Step, Any] | None, asyncio.Future[None]]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class GroupCommit:
    """Runs writes in shared transactions.

    A write given a ``workspace_id`` runs under that workspace's scope, exactly as in
    ``Database.session(workspace_id)``: its queries see only that workspace and what it adds
    must belong to it. It is flushed before the next write runs under another scope.

    A write given ``ahead=(step, item)`` has part of its work done by ``step(session,
    items)``, which runs once for the items of all the writes of the batch that name the same
    step, before any of them, and leaves its results in the items for the writes to read:
    statements that would run once per write run once per batch.
    """

    def __init__(self, db: Database, *, max_batch: int = 200, urgent: bool = False) -> None:
        self.db = db
        self.max_batch = max_batch
        self.urgent = urgent
        self._pending: list[Pending] = []
        self._running = False
        self._task: asyncio.Task[None] | None = None  # held: the loop keeps only weak ones
        self._kept = db.kept(urgent=urgent)  # one transaction at a time: one connection

    async def run(self, write: Write, workspace_id: int | None = None, *,
                  ahead: tuple[Step, Any] | None = None) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((write, workspace_id, ahead, future))
        if not self._running:
            self._running = True
            self._task = asyncio.get_running_loop().create_task(self._drain())
        await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                try:
                    await self._commit(batch)
                except Exception as exc:
                    if len(batch) == 1:
                        _settle(batch[0][3], exc)
                        continue
                    # One bad write must not fail its neighbours: retry them one by one.
                    for pending in batch:
                        try:
                            await self._commit([pending])
                        except Exception as alone:
                            _settle(pending[3], alone)
                        else:
                            _settle(pending[3], None)
                else:
                    for *_, future in batch:
                        _settle(future, None)
        finally:
            self._running = False

    async def _commit(self, batch: list[Pending]) -> None:
        steps: dict[Step, list[Any]] = {}
        for _, _, ahead, _ in batch:
            if ahead is not None:
                steps.setdefault(ahead[0], []).append(ahead[1])
        async with self._kept.session() as session:
            for step, items in steps.items():
                await step(session, items)
            for write, workspace_id, _, _ in batch:
                await _scoped(session, write, workspace_id)


async def _scoped(session: AsyncSession, write: Write, workspace_id: int | None) -> None:
    if workspace_id is None:
        await write(session)
        return
    # The scoping rules read session.info at each statement and flush: switch it around the
    # write, and flush inside the scope so its new rows are checked against it.
    session.info.pop(PLATFORM_KEY, None)
    session.info[SCOPE_KEY] = workspace_id
    try:
        await write(session)
        await session.flush()
    finally:
        session.info.pop(SCOPE_KEY, None)
        session.info[PLATFORM_KEY] = True


def _settle(future: asyncio.Future[Any], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


Fetch = Callable[[AsyncConnection, list[K]], Awaitable[dict[K, V]]]


class GroupRead(Generic[K, V]):
    """Answers concurrent lookups of single keys with one read transaction per batch.

    ``fetch(conn, keys)`` returns what it found as a dict; a key it leaves out is answered
    with None. Tasks that start together (a claimed batch of events) ask in the same moment,
    so their lookups become one query.
    """

    def __init__(self, db: Database, fetch: Fetch[K, V], *, max_batch: int = 500) -> None:
        self.db = db
        self.fetch = fetch
        self.max_batch = max_batch
        self._pending: dict[K, list[asyncio.Future[V | None]]] = {}
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self._kept = db.kept(write=False)

    async def get(self, key: K) -> V | None:
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(future)
        if not self._running:
            self._running = True
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                keys = list(self._pending)[: self.max_batch]
                waiting = {key: self._pending.pop(key) for key in keys}
                try:
                    async with self._kept.transaction() as conn:
                        found = await self.fetch(conn, keys)
                except Exception as exc:
                    for futures in waiting.values():
                        for future in futures:
                            _settle(future, exc)
                    continue
                for key, futures in waiting.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(found.get(key))
        finally:
            self._running = False
