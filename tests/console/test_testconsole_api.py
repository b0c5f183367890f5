"""The test console through the JSON API (``/orders/test-runs``): the same runs as the console
page, kept and listed; owners run them, agents read them, outsiders see nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from panelpilot.context import Context
from tests.orders.helpers import Shop, make_shop
from tests.support import Tenants

BASE = "/api/v1/workspaces/acme/orders/test-runs"


@pytest.fixture
async def shop(ctx: Context, tenants: Tenants) -> AsyncIterator[Shop]:
    async for s in make_shop(ctx):
        yield s


async def test_run_list_and_read(shop: Shop, client: httpx.AsyncClient, tenants: Tenants) -> None:
    owner = Tenants.auth(tenants.owner)
    r = await client.post(BASE, headers=owner, json={"text": "2274209 refil",
                                                     "username": "john_doe"})
    assert r.status_code == 201, r.text
    run = r.json()
    assert (run["passed"], run["username"], run["run_by"]) == (True, "john_doe",
                                                               "API token owner")
    result = run["result"]
    assert (result["kind"], result["action"], result["corrected_from"]) == (
        "order_action", "refill", "refil")
    verdict = result["verdicts"][0]
    assert verdict["verdict"] == "sent"
    assert [(c["check"], c["state"]) for c in verdict["checks"]] == [
        ("found", "pass"), ("owner", "pass"), ("eligible", "pass"), ("cooldown", "pass"),
        ("external_id", "pass"), ("route", "pass")]
    assert result["dispatches"][0] | {"dispatch_id": None} == {
        "route": "smmprovider", "fallback": False, "channel_id": shop.channel_id,
        "channel": "tg", "chat_id": "-100700", "text": "EXT-99812 refill",
        "order_ids": ["2274209"], "dispatch_id": None}
    as_support = (await client.post(BASE, headers=owner, json={"text": "2274214 cancel"})).json()
    assert as_support["passed"] is False and as_support["username"] is None
    assert as_support["result"]["verdicts"][0]["checks"][1]["reason"] == \
        "a support chat may act on any order"
    agent = Tenants.auth(tenants.agent)
    listed = (await client.get(BASE, headers=agent)).json()
    assert [x["id"] for x in listed] == [as_support["id"], run["id"]]
    assert [x["id"] for x in (await client.get(BASE, headers=agent,
                                                params={"passed": True})).json()] == [run["id"]]
    assert (await client.get(BASE, headers=agent, params={"limit": 1, "before": listed[0]["id"]})
            ).json()[0]["id"] == run["id"]
    one = (await client.get(f"{BASE}/{run['id']}", headers=agent)).json()
    assert one == run


async def test_who_may_and_validation(shop: Shop, client: httpx.AsyncClient,
                                      tenants: Tenants) -> None:
    body = {"text": "2274209 refill", "username": "john_doe"}
    assert (await client.post(BASE, headers=Tenants.auth(tenants.agent), json=body)
            ).status_code == 403
    assert (await client.post(BASE, headers=Tenants.auth(tenants.outsider), json=body)
            ).status_code == 404
    owner = Tenants.auth(tenants.owner)
    empty = await client.post(BASE, headers=owner, json={"text": "  "})
    assert empty.status_code == 422 and empty.json()["error"]["details"][0]["field"] == "text"
    spaced = await client.post(BASE, headers=owner, json={"text": "1 refill",
                                                          "username": "a b"})
    assert spaced.status_code == 422 and spaced.json()["error"]["details"][0]["field"] == "username"
    assert (await client.get(BASE, headers=owner)).json() == []
    run = (await client.post(BASE, headers=owner, json=body)).json()
    other = "/api/v1/workspaces/other/orders/test-runs"
    outsider = Tenants.auth(tenants.outsider)
    assert (await client.get(f"{other}/{run['id']}", headers=outsider)).status_code == 404
    assert (await client.get(other, headers=outsider)).json() == []
