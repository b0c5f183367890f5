"""The inbox loop: claim events, process each chat's events in order, many chats at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from panelpilot.context import Context
from panelpilot.inbox.claim import Claim, claim
from panelpilot.inbox.process import LostClaim, process, release_failed
from panelpilot.runners.claimloop import claim_loop

log = logging.getLogger(__name__)


async def _run_chat(ctx: Context, first: Claim) -> None:
    current: Claim | None = first
    while current is not None:
        try:
            await process(ctx, current)
        except LostClaim:
            log.warning("event taken over by another worker", extra={"event": current.id})
            return
        except Exception as exc:
            log.exception("processing failed", extra={"event": current.id})
            with contextlib.suppress(Exception):
                await release_failed(ctx, current, f"{type(exc).__name__}: {exc}")
            return
        # Stay with this chat while it has more: its next event is now the oldest.
        try:
            more = await claim(ctx.db, 1, chat_key=current.chat_key,
                               lease=ctx.settings.inbox_lease_seconds)
        except Exception:
            # The main loop claims this chat's next event on its next round.
            log.exception("cannot claim the next event of a chat")
            return
        current = more[0] if more else None


async def inbox_loop(ctx: Context, stop: asyncio.Event, concurrency: int = 8) -> None:
    lease = ctx.settings.inbox_lease_seconds

    async def take(limit: int) -> list[Claim]:
        return await claim(ctx.db, limit, lease=lease)

    await claim_loop(stop=stop, signal=ctx.singleton("inbox_signal", asyncio.Event),
                     capacity=concurrency, idle=ctx.settings.inbox_poll_interval, claim=take,
                     run=lambda c: _run_chat(ctx, c), what="inbound events")
