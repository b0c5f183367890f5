"""The loop shared by the inbox and outbox workers: claim work, run it, wait for more.

It keeps up to ``capacity`` items running and otherwise sleeps until this process signals new
work, ``idle`` seconds pass (work from other processes), or ``stop`` is set; then it lets what
is running finish. ``claim(limit, told)`` is told whether a signal said there is work, so it
can skip its look for work first. Only when a claim filled every free place (more may be
waiting) does a finished item wake the loop to claim again.
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
    claim: Callable[[int, bool], Awaitable[list[T]]],
    run: Callable[[T], Coroutine[Any, Any, Any]], what: str,
) -> None:
    running: set[asyncio.Task[Any]] = set()
    told = False
    full = False  # the last claim took all it could: more may be waiting
    while not stop.is_set():
        free = capacity - len(running)
        if free > 0:
            told = told or signal.is_set()
            signal.clear()
            items: list[T] = []
            try:
                items = await claim(free, told)
            except Exception:
                log.exception("cannot claim %s", what)
            told = False
            for item in items:
                task = asyncio.create_task(run(item))
                running.add(task)
                task.add_done_callback(running.discard)
            full = bool(items) and len(items) == free
            if full and len(running) < capacity:
                told = True
                await asyncio.sleep(0)
                continue
        waiters: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(signal.wait()), asyncio.ensure_future(stop.wait())]
        if full:
            waiters += list(running)
        await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters[:2]:
            waiter.cancel()
        if full:
            # Items finish in groups (their results share commits): let the group finish and
            # claim once for all of them.
            await asyncio.sleep(0)
            told = True
    if running:
        await asyncio.wait(running, timeout=30)
