"""Background work: the loops that drain the inbox and outbox and run periodic runners.

``panelpilot serve`` runs them inside the web process (embedded mode); ``panelpilot worker``
runs them alone. Every loop stops cleanly on SIGTERM/SIGINT: it finishes or releases what it
holds and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI

from panelpilot.context import Context, settle_process

log = logging.getLogger(__name__)

# A background loop: runs until ``stop`` is set.
Loop = Callable[[Context, asyncio.Event, int], Awaitable[None]]


def loops() -> dict[str, Loop]:
    """The inbox and outbox workers and the runners (pollers and periodic jobs)."""
    from panelpilot.inbox.worker import inbox_loop
    from panelpilot.outbox.sender import sender_loop
    from panelpilot.runners.registry import runners_loop

    return {"inbox": inbox_loop, "outbox": sender_loop, "runners": runners_loop}


async def run_loops(ctx: Context, stop: asyncio.Event, concurrency: int = 8, *,
                    other_processes: bool = False) -> None:
    """Run every loop until ``stop``. ``other_processes``: other processes store work too (a
    separate web node), so listen for their wake-ups (see ``runners.wakeup``)."""
    async def guarded(name: str, loop: Loop) -> None:
        while not stop.is_set():
            try:
                await loop(ctx, stop, concurrency)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background loop %s crashed; restarting in 5 s", name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=5)

    from panelpilot.runners.wakeup import wake_from_other_processes

    tasks = [asyncio.create_task(guarded(name, loop), name=name)
             for name, loop in loops().items()]
    if other_processes:
        tasks.append(asyncio.create_task(wake_from_other_processes(ctx, stop), name="wakeup"))
    await asyncio.gather(*tasks)


async def run_forever(ctx: Context, concurrency: int = 8) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    settle_process()
    log.info("worker started", extra={"loops": sorted(loops())})
    try:
        await run_loops(ctx, stop, concurrency, other_processes=True)
    finally:
        await ctx.close()
        log.info("worker stopped")


def attach_workers(app: FastAPI, ctx: Context, concurrency: int = 8) -> None:
    """Run the background loops for as long as the web app runs."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        stop = asyncio.Event()
        # In this process the web app wakes the loops itself; on PostgreSQL other web nodes
        # may store work too.
        task = asyncio.create_task(run_loops(ctx, stop, concurrency,
                                             other_processes=not ctx.db.is_sqlite))
        try:
            async with inner(a) as state:
                yield state
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, timeout=15)
            except TimeoutError:
                task.cancel()

    app.router.lifespan_context = lifespan
