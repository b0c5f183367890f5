"""Workspace configuration kept in memory between turns, read again only once it changed.

Templates and order rules are read on nearly every message and change rarely. A cached value
is stored with the workspace's ``config_version`` of the moment; database triggers on the
``templates`` and ``order_settings`` tables move that number on every change (migration 0005)
and each turn reads it with its context, so a change shows from the next message on, on every
worker, whichever way it was made. A loader given to ``cached`` must read only those tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.context import Context

T = TypeVar("T")
LIMIT = 20_000  # cached values per process before the cache starts over


async def cached(ctx: Context, workspace_id: int, version: int | None, name: str,
                 load: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``load(session)``'s value for this workspace, from memory while ``version`` holds.

    Callers must not change the value they get: the next turn gets the same object.
    """
    cache: dict[tuple[int, str], tuple[int, Any]] = ctx.singleton("config_cache", dict)
    hit = cache.get((workspace_id, name))
    if version is not None and hit is not None and hit[0] == version:
        value: T = hit[1]
        return value
    async with ctx.db.read_session(workspace_id) as session:
        value = await load(session)
    if version is not None:
        if len(cache) >= LIMIT:
            cache.clear()
        cache[(workspace_id, name)] = (version, value)
    return value
