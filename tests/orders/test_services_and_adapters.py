"""The service cache and its runner, and each panel adapter path (Perfect Panel, rental)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from panelpilot.context import Context
from panelpilot.orders.models import OrderSettings, ServiceCache
from panelpilot.orders.services import ServiceCacheRunner, due_workspaces, refresh_services
from panelpilot.orders.tickets import process_tickets
from panelpilot.sim.smm_data import DEMO_SERVICES, now_utc
from tests.orders.helpers import JOHN, PROVIDER_GROUP, STRANGER, Shop, make_shop


async def _cache(shop: Shop) -> dict[str, ServiceCache]:
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        return {c.service_id: c for c in (await s.execute(select(ServiceCache))).scalars()}


async def test_refresh_reads_the_catalogue_and_follows_changes(shop: Shop) -> None:
    result = await refresh_services(shop.ctx, shop.workspace_id)
    assert result == {"ok": True, "services": len(DEMO_SERVICES), "added": len(DEMO_SERVICES),
                      "changed": 0, "removed": 0}
    cache = await _cache(shop)
    assert cache["101"].name.startswith("Instagram Followers [Start: 0-1 Hour]")
    assert cache["122"].name.endswith("& Real")  # HTML entities are undone
    assert cache["101"].refill_button is True and cache["103"].refill_button is False
    shop.panel.store.services["101"].name = "Instagram Followers [R60]"
    del shop.panel.store.services["122"]
    result = await refresh_services(shop.ctx, shop.workspace_id)
    assert (result["added"], result["changed"], result["removed"]) == (0, 1, 1)
    assert (await _cache(shop))["101"].name == "Instagram Followers [R60]"


async def test_the_cache_decides_when_an_order_does_not_name_its_service(shop: Shop) -> None:
    await refresh_services(shop.ctx, shop.workspace_id)
    # the panel no longer lists the service, so its orders come without a service name
    shop.panel.add_order(2274320, user="john_doe", service_id=101, status="completed",
                         external_id="EXT-20", provider="smmprovider.com",
                         created=now_utc() - timedelta(days=2))
    del shop.panel.store.services["101"]
    said = await shop.say(JOHN, "2274320 refill")
    assert said.replies == ["✅ 2274320: refill request sent."]
    # without the cache the policy would be unknown
    async with shop.ctx.db.session(shop.workspace_id) as s:
        for row in (await s.execute(select(ServiceCache))).scalars():
            await s.delete(row)
    shop.panel.add_order(2274321, user="john_doe", service_id=101, status="completed",
                         external_id="EXT-21", provider="smmprovider.com",
                         created=now_utc() - timedelta(days=2))
    assert "not known" in (await shop.say(JOHN, "2274321 refill")).text


async def test_the_runner_refreshes_due_workspaces_and_notes_failures(shop: Shop) -> None:
    assert await due_workspaces(shop.ctx) == [shop.workspace_id]
    info = await ServiceCacheRunner().tick(shop.ctx)
    assert info == {"refreshed": 1, "failed": 0}
    assert await due_workspaces(shop.ctx) == []
    assert len(await _cache(shop)) == len(DEMO_SERVICES)
    shop.panel.fail_next(500)
    result = await refresh_services(shop.ctx, shop.workspace_id)
    assert not result["ok"] and "server_error" in result["error"]
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        row = (await s.execute(select(OrderSettings))).scalar_one()
    assert "server_error" in row.services_error
    assert len(await _cache(shop)) == len(DEMO_SERVICES)  # a failure keeps what we had


# --- rental panels (Admin API v1) --------------------------------------------------------------


@pytest.fixture
async def rental(ctx: Context) -> AsyncIterator[Shop]:
    async for s in make_shop(ctx, kind="rental"):
        yield s


async def test_rental_panel_commands(rental: Shop) -> None:
    said = await rental.say(JOHN, "2274209, 2274214 refill")
    assert said.replies == ["✅ 2274209: refill request sent.\n❌ 2274214: refill is not "
                            "possible, the order is canceled."]
    assert said.to(PROVIDER_GROUP) == ["EXT-99812 refill"]
    calls = [c for c in rental.panel.calls if c.params.get("action") == "getOrders-by-id"]
    assert len(calls) == 1 and calls[0].params["orders"] == "2274209,2274214"
    assert (await rental.say(JOHN, "balance")).replies == ["💰 Balance of john_doe: 125.5000 USD."]


async def test_rental_panel_linking_uses_add_ticket(rental: Shop) -> None:
    import re

    await rental.say(STRANGER, "link ali_yilmaz")
    [ticket] = rental.panel.created_tickets
    code = re.search(r"\d{6}", ticket.messages[0].text)
    assert code is not None
    assert (await rental.say(STRANGER, code.group(0))).replies == [
        "✅ This chat is now linked to ali_yilmaz."]


async def test_rental_panels_can_not_have_ticket_rules(rental: Shop) -> None:
    from panelpilot.orders.tickets import ticket_workspaces

    await rental.apply(rental.file(extra_rules="  tickets: {enabled: true}\n"))
    assert await ticket_workspaces(rental.ctx) == []
    assert (await process_tickets(rental.ctx, rental.workspace_id))["failed"] == 1
