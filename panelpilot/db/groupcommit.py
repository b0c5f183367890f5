"""Group commit: many small writes from concurrent tasks share one transaction.

Each caller awaits until the transaction holding its write has committed, so it keeps the
guarantee it would have had alone; under load one commit serves many callers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.db.engine import Database

Write = Callable[[AsyncSession], Awaitable[None]]


class GroupCommit:
    def __init__(self, db: Database, *, max_batch: int = 200, urgent: bool = False) -> None:
        self.db = db
        self.max_batch = max_batch
        self.urgent = urgent
        self._pending: list[tuple[Write, asyncio.Future[None]]] = []
        self._running = False

    async def run(self, write: Write) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                try:
                    async with self.db.platform_session(urgent=self.urgent) as session:
                        for write, _ in batch:
                            await write(session)
                except Exception as exc:
                    if len(batch) == 1:
                        batch[0][1].set_exception(exc)
                        continue
                    # One bad write must not fail its neighbours: retry them one by one.
                    for write, future in batch:
                        await self._alone(write, future)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._running = False

    async def _alone(self, write: Write, future: asyncio.Future[None]) -> None:
        try:
            async with self.db.platform_session(urgent=self.urgent) as session:
                await write(session)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(None)
