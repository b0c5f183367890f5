"""Every runner of the platform; features add theirs to ``all_runners``."""

from __future__ import annotations

import asyncio

from panelpilot.context import Context
from panelpilot.runners.base import Runner, run_runner


def all_runners() -> list[Runner]:
    from panelpilot.channels.polling import runners as polling
    from panelpilot.orders.services import ServiceCacheRunner
    from panelpilot.orders.tickets import PanelTicketsRunner

    return [*polling(), PanelTicketsRunner(), ServiceCacheRunner()]


async def runners_loop(ctx: Context, stop: asyncio.Event, concurrency: int = 8) -> None:
    await asyncio.gather(*(run_runner(ctx, r, stop) for r in all_runners()))
