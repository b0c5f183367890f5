"""The inbox loop: claim events in batches and process them, many chats at once.

A claim takes only the oldest unfinished event of each chat, so a chat's next event becomes
claimable once this one is done: chats keep their order, and the events of a burst are claimed
together by the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from panelpilot.context import Context
from panelpilot.db.claims import Claimer
from panelpilot.inbox.claim import Claim, claim
from panelpilot.inbox.context import preparer
from panelpilot.inbox.process import LostClaim, process, release_failed
from panelpilot.runners.claimloop import claim_loop
from panelpilot.runners.wakeup import INBOX, running_here

log = logging.getLogger(__name__)
PER_WORKER_SLOT = 8  # events in flight per unit of worker concurrency


async def _run(ctx: Context, current: Claim) -> None:
    try:
        await process(ctx, current)
    except LostClaim:
        log.warning("event taken over by another worker", extra={"event": current.id})
    except Exception as exc:
        log.exception("processing failed", extra={"event": current.id})
        with contextlib.suppress(Exception):
            await release_failed(ctx, current, f"{type(exc).__name__}: {exc}")


async def inbox_loop(ctx: Context, stop: asyncio.Event, concurrency: int = 8) -> None:
    lease = ctx.settings.inbox_lease_seconds
    prepare = preparer(ctx)
    via = Claimer(ctx.db)

    async def take(limit: int, told: bool) -> list[Claim]:
        return await claim(ctx.db, limit, lease=lease, probe=not told, prepare=prepare,
                           via=via)

    with running_here(ctx, INBOX):
        await claim_loop(stop=stop, signal=ctx.singleton("inbox_signal", asyncio.Event),
                         capacity=concurrency * PER_WORKER_SLOT,
                         idle=ctx.settings.inbox_poll_interval, claim=take,
                         run=lambda c: _run(ctx, c), what="inbound events")
