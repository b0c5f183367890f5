"""Fixtures of the order-support tests: a workspace wired to the panel simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from panelpilot.context import Context
from tests.orders.helpers import Shop, make_shop


@pytest.fixture
async def shop(ctx: Context) -> AsyncIterator[Shop]:
    async for s in make_shop(ctx):
        yield s
