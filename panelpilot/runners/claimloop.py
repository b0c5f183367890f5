"""The loop shared by the inbox and outbox workers: claim work, run it, wait for more.

It keeps up to ``capacity`` items running, claims more as they finish, and otherwise sleeps
until this process signals new work, ``idle`` seconds pass (work from other processes), or
``stop`` is set; then it lets what is running finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def claim_loop(
    *, stop: asyncio.Event, signal: asyncio.Event, capacity: int, idle: float,
    claim: Callable[[int], Awaitable[list[T]]], run: Callable[[T], Coroutine[Any, Any, Any]],
    what: str,
) -> None:
    running: set[asyncio.Task[Any]] = set()
    while not stop.is_set():
        free = capacity - len(running)
        items: list[T] = []
        if free > 0:
            signal.clear()
            try:
                items = await claim(free)
            except Exception:
                log.exception("cannot claim %s", what)
        for item in items:
            task = asyncio.create_task(run(item))
            running.add(task)
            task.add_done_callback(running.discard)
        if items and len(items) == free:
            await asyncio.sleep(0)
            continue
        waiters: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(signal.wait()), asyncio.ensure_future(stop.wait())]
        waiters += list(running)
        await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters[:2]:
            waiter.cancel()
    if running:
        await asyncio.wait(running, timeout=30)
