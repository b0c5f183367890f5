"""The runner framework: one loop per runner, guarded by a lease, stopping cleanly.

A runner is either periodic (``tick`` every ``interval`` seconds) or long-running (``work``
until told to stop, e.g. a poller). Either way it only runs while this node holds its lease;
the lease is renewed in the background and a lost lease stops the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar

from panelpilot.context import Context
from panelpilot.runners import lease

log = logging.getLogger(__name__)


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True if ``stop`` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


class Runner:
    name: ClassVar[str]
    interval: ClassVar[float] = 10.0
    lease_ttl: ClassVar[float] = 30.0

    async def tick(self, ctx: Context) -> dict[str, Any] | None:
        """One periodic run; returns health info to show, or None."""
        raise NotImplementedError

    async def work(self, ctx: Context, stop: asyncio.Event) -> None:
        """Run until ``stop``; the default calls ``tick`` every ``interval`` seconds."""
        while not stop.is_set():
            try:
                info = await self.tick(ctx)
            except Exception as exc:
                log.exception("runner %s failed", self.name)
                await lease.record(ctx.db, self.name, error=f"{type(exc).__name__}: {exc}")
            else:
                await lease.record(ctx.db, self.name, info=info)
            if await wait_or_stop(stop, self.interval):
                return


async def run_runner(ctx: Context, runner: Runner, stop: asyncio.Event) -> None:
    """Hold ``runner``'s lease and run it whenever we hold it, until ``stop``."""
    while not stop.is_set():
        try:
            held = await lease.acquire(ctx.db, runner.name, runner.lease_ttl)
        except Exception:
            log.exception("cannot take the lease of %s", runner.name)
            held = False
        if not held:
            if await wait_or_stop(stop, min(runner.lease_ttl / 3, 5.0)):
                return
            continue
        inner_stop = asyncio.Event()

        async def renew(inner: asyncio.Event = inner_stop) -> None:
            while not inner.is_set():
                if await wait_or_stop(stop, runner.lease_ttl / 3):
                    break
                try:
                    still = await lease.acquire(ctx.db, runner.name, runner.lease_ttl)
                except Exception:
                    log.exception("cannot renew the lease of %s", runner.name)
                    still = False
                if not still:
                    log.warning("runner %s lost its lease", runner.name)
                    break
            inner.set()

        renewer = asyncio.create_task(renew())
        try:
            await runner.work(ctx, inner_stop)
        finally:
            inner_stop.set()
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            with contextlib.suppress(Exception):
                await lease.release(ctx.db, runner.name)
