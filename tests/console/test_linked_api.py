"""The JSON API of linked chats, which the console's Linked users page mirrors: filters by channel
and source, one link with its last commands and link history, unlinking."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from panelpilot.context import Context
from tests.orders.helpers import JANE, JOHN, STRANGER, SUPPORT, Shop, make_shop
from tests.support import Tenants

BASE = "/api/v1/workspaces/acme/orders/linked-chats"


@pytest.fixture
async def shop(ctx: Context, tenants: Tenants) -> AsyncIterator[Shop]:
    async for s in make_shop(ctx):
        yield s


async def test_filters_by_channel_and_source(shop: Shop, client: httpx.AsyncClient,
                                             tenants: Tenants) -> None:
    owner = Tenants.auth(tenants.owner)
    r = await client.post(BASE, headers=owner, json={"channel": "tg", "chat": "4242",
                                                     "username": "ivan_petrov"})
    assert r.status_code == 201
    made = r.json()
    assert (made["source"], made["linked_by"], made["managed_by_file"]) == (
        "api", "API token owner", False)
    every = (await client.get(BASE, headers=owner)).json()
    assert [(x["chat_id"], x["source"], x["managed_by_file"]) for x in every] == [
        ("4242", "api", False), ("-100500", "file", True), (str(JANE), "file", True),
        (str(JOHN), "file", True)]
    by_source = (await client.get(BASE, headers=owner, params={"source": "api"})).json()
    assert [x["chat_id"] for x in by_source] == ["4242"]
    assert len((await client.get(BASE, headers=owner, params={"channel": "tg"})).json()) == 4
    assert (await client.get(BASE, headers=owner, params={"channel": "wa"})).json() == []
    page = (await client.get(BASE, headers=owner, params={"limit": 2})).json()
    rest = (await client.get(BASE, headers=owner,
                             params={"limit": 2, "before": page[-1]["id"]})).json()
    assert [x["id"] for x in page + rest] == [x["id"] for x in every]


async def test_one_link_with_commands_and_history(shop: Shop, client: httpx.AsyncClient,
                                                  tenants: Tenants) -> None:
    await shop.say(STRANGER, "link ali_yilmaz")
    await shop.say(SUPPORT, f"link {STRANGER} ali_yilmaz")
    await shop.say(STRANGER, "2274216 refill")
    agent = Tenants.auth(tenants.agent)
    links = (await client.get(BASE, headers=agent, params={"username": "ALI_YILMAZ"})).json()
    assert [(x["chat_id"], x["source"]) for x in links] == [(str(STRANGER), "support")]
    detail = (await client.get(f"{BASE}/{links[0]['id']}", headers=agent)).json()
    assert [c["text"] for c in detail["commands"]] == ["2274216 refill", "link ali_yilmaz"]
    assert detail["commands"][0]["orders"][0]["verdict"] == "sent"
    assert [(h["what"], h["by"]) for h in detail["history"]] == [
        ("Linked to ali_yilmaz from a support chat", f"support chat {SUPPORT}"),
        ("Asked to be linked to ali_yilmaz", "the customer, in this chat")]
    assert (await client.get(f"{BASE}/999999", headers=agent)).status_code == 404


async def test_unlink_and_who_may(shop: Shop, client: httpx.AsyncClient,
                                  tenants: Tenants) -> None:
    owner = Tenants.auth(tenants.owner)
    john = (await client.get(BASE, headers=owner, params={"q": str(JOHN)})).json()[0]
    r = await client.delete(f"{BASE}/{john['id']}", headers=Tenants.auth(tenants.agent))
    assert r.status_code == 403
    r = await client.get(f"{BASE}/{john['id']}", headers=Tenants.auth(tenants.outsider))
    assert r.status_code == 404
    assert (await client.delete(f"{BASE}/{john['id']}", headers=owner)).status_code == 204
    assert (await client.delete(f"{BASE}/{john['id']}", headers=owner)).status_code == 404
    assert (await client.get(f"{BASE}/{john['id']}", headers=owner)).status_code == 404
