"""Polling runners: Telegram getUpdates and Green API receiveNotification, one task per account.

An update is confirmed to the platform only after it is stored: Telegram by the next
getUpdates offset (saved in the same transaction as the events), Green API by
deleteNotification after the insert. A Telegram 409 (a webhook is set) is a channel problem
shown to the owner, not something to spin on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.base import SendError
from panelpilot.channels.drivers import ChannelCreds, driver_for
from panelpilot.channels.models import ChannelAccount, ChannelMode, ChannelStatus
from panelpilot.channels.service import creds_of, set_status
from panelpilot.context import Context
from panelpilot.inbox.ingest import store
from panelpilot.runners import lease
from panelpilot.runners.base import Runner, wait_or_stop

log = logging.getLogger(__name__)
REFRESH_SECONDS = 5.0
TELEGRAM_POLL_TIMEOUT = 25
GREENAPI_POLL_TIMEOUT = 20


class PollingRunner(Runner):
    kind: ClassVar[str]
    interval = REFRESH_SECONDS

    async def poll(self, ctx: Context, creds: ChannelCreds, stop: asyncio.Event) -> None:
        raise NotImplementedError

    async def _accounts(self, ctx: Context) -> dict[int, ChannelCreds]:
        async with ctx.db.read_session() as session:
            rows = (await session.execute(select(ChannelAccount).where(
                ChannelAccount.kind == self.kind, ChannelAccount.mode == ChannelMode.POLLING,
                ChannelAccount.status.in_((ChannelStatus.ACTIVE, ChannelStatus.DISCONNECTED)),
            ))).scalars().all()
            return {row.id: creds_of(ctx.keyring, row) for row in rows}

    async def work(self, ctx: Context, stop: asyncio.Event) -> None:
        tasks: dict[int, tuple[ChannelCreds, asyncio.Task[None], asyncio.Event]] = {}
        try:
            while not stop.is_set():
                try:
                    wanted = await self._accounts(ctx)
                except Exception:
                    log.exception("cannot list polling accounts")
                    wanted = {k: v[0] for k, v in tasks.items()}
                for channel_id in list(tasks):
                    creds, task, own_stop = tasks[channel_id]
                    if wanted.get(channel_id) != creds or task.done():
                        own_stop.set()
                        task.cancel()
                        del tasks[channel_id]
                for channel_id, creds in wanted.items():
                    if channel_id not in tasks:
                        own_stop = asyncio.Event()
                        task = asyncio.create_task(self._poll_guarded(ctx, creds, own_stop))
                        tasks[channel_id] = (creds, task, own_stop)
                await lease.record(ctx.db, self.name, info={"accounts": len(tasks)})
                if await wait_or_stop(stop, self.interval):
                    break
        finally:
            for _, task, own_stop in tasks.values():
                own_stop.set()
                task.cancel()
            for _, task, _ in tasks.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _poll_guarded(self, ctx: Context, creds: ChannelCreds,
                            stop: asyncio.Event) -> None:
        delay = 1.0
        while not stop.is_set():
            try:
                await self.poll(ctx, creds, stop)
                return
            except asyncio.CancelledError:
                raise
            except SendError as exc:
                if exc.reason == "conflict":
                    await set_status(ctx, creds.id, ChannelStatus.PROBLEM,
                                     "polling is not possible while a webhook is set: switch "
                                     "the channel to webhook mode or apply it again to remove "
                                     "the webhook")
                    return
                if exc.reason == "disconnected" and exc.permanent:
                    await set_status(ctx, creds.id, ChannelStatus.DISCONNECTED,
                                     f"the platform refused our credentials: {exc.detail}")
                    return
                log.warning("polling failed", extra={"channel": creds.key, "reason": exc.reason})
            except Exception:
                log.exception("polling crashed", extra={"channel": creds.key})
            if await wait_or_stop(stop, delay):
                return
            delay = min(delay * 2, 30.0)


class TelegramPolling(PollingRunner):
    name = "telegram-polling"
    kind = "telegram"

    async def poll(self, ctx: Context, creds: ChannelCreds, stop: asyncio.Event) -> None:
        client = driver_for("telegram").client(ctx, creds)
        async with ctx.db.platform_session() as session:
            offset = (await session.execute(select(ChannelAccount.poll_offset).where(
                ChannelAccount.id == creds.id))).scalar() or 0
        allowed = getattr(driver_for("telegram"), "allowed_updates", None)
        while not stop.is_set():
            updates = await client.get_updates(offset=offset or None,
                                               timeout=TELEGRAM_POLL_TIMEOUT,
                                               allowed_updates=allowed)
            if not updates:
                continue
            events = driver_for("telegram").split(updates, creds)
            new_offset = max(int(u["update_id"]) for u in updates if "update_id" in u) + 1

            async def save_offset(session: AsyncSession, value: int = new_offset) -> None:
                await session.execute(update(ChannelAccount).where(
                    ChannelAccount.id == creds.id).values(poll_offset=value)
                    .execution_options(synchronize_session=False))

            await store(ctx, creds, events, also=save_offset)
            offset = new_offset


class GreenApiPolling(PollingRunner):
    name = "greenapi-polling"
    kind = "greenapi"

    async def poll(self, ctx: Context, creds: ChannelCreds, stop: asyncio.Event) -> None:
        client = driver_for("greenapi").client(ctx, creds)
        while not stop.is_set():
            item: dict[str, Any] | None = await client.receive_notification(
                timeout=GREENAPI_POLL_TIMEOUT)
            if item is None:
                continue
            events = driver_for("greenapi").split(item, creds)
            await store(ctx, creds, events)
            await client.delete_notification(item["receiptId"])


def runners() -> list[Runner]:
    return [TelegramPolling(), GreenApiPolling()]
