"""Isolation-test additions for this feature area's console pages (see ``__init__``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.context import Context
from tests.support import Tenants

BODIES: dict[str, dict[str, str]] = {}
OBJECT_PARAMS: tuple[str, ...] = ()


async def seed(ctx: Context, tenants: Tenants, ids: dict[str, str]) -> dict[str, str]:
    return {}


async def snapshot(ctx: Context, session: AsyncSession) -> dict[str, Any]:
    return {}
