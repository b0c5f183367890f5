"""The dispatch log page: each filter (time, provider, order id, delivery status, action),
paging, the detail view with its delivery attempts, and the API's matching filters."""

from __future__ import annotations

import re
from typing import Any

import httpx

from panelpilot.context import Context
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, field_errors
from tests.console.logdata import add_channel, add_chat, add_outbound
from tests.console.orderlogdata import add_command, add_dispatch, ago
from tests.support import Tenants

URL = "/w/acme/dispatches"
API = "/api/v1/workspaces/acme/orders"


def shown(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'aria-label="Dispatch (\d+)"', page)]


async def _seed(ctx: Context, ws: int) -> dict[str, Any]:
    tg = await add_channel(ctx, ws, key="support-bot")
    await add_chat(ctx, ws, tg, "-1001987654321", title="SMM Provider A",
                   chat_type="supergroup")
    cmd = await add_command(ctx, ws, channel_id=tg)
    sent = await add_outbound(ctx, ws, tg, chat_id="-1001987654321", text="EXT refill",
                              purpose="dispatch", attempts=((True, "", ""),))
    failed = await add_outbound(ctx, ws, tg, chat_id="-1002", text="EXT speed",
                                purpose="dispatch", status="failed", reason="chat_not_found",
                                error="Bad Request: chat not found",
                                attempts=((False, "server_error", "Internal Server Error"),
                                          (False, "chat_not_found", "chat not found")))
    queued = await add_outbound(ctx, ws, tg, chat_id="-1003", text="EXT cancel",
                                purpose="dispatch", status="queued")
    ids = {"tg": tg, "cmd": cmd, "failed_msg": failed}
    ids["refill"] = await add_dispatch(ctx, ws, channel_id=tg, command_id=cmd,
                                       message_id=sent, created_at=ago(hours=3))
    ids["speed"] = await add_dispatch(
        ctx, ws, channel_id=tg, command_id=None, order_ids=("5163781", "5163782"),
        route="fastsmm", provider="fastsmm.net", action="speed", chat_id="-1002",
        message_id=failed, created_at=ago(hours=2))
    ids["fallback"] = await add_dispatch(
        ctx, ws, channel_id=tg, command_id=None, order_ids=("2274400",), route="",
        provider="Unknown SMM", action="cancel", chat_id="-1003", message_id=queued,
        fallback=True, created_at=ago(hours=1))
    return ids


async def test_empty_log(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    page = (await (await clients(AGENT)).get(URL)).text
    assert "Nothing sent to providers yet" in page


async def test_list_and_every_filter(ctx: Context, clients: ClientFactory,
                                     tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    agent = await clients(AGENT)

    async def listed(**params: str) -> list[int]:
        r = await agent.get(URL, params=params)
        assert r.status_code == 200 and field_errors(r.text) == {}, field_errors(r.text)
        return shown(r.text)

    page = (await agent.get(URL)).text
    assert shown(page) == [ids["fallback"], ids["speed"], ids["refill"]]
    assert "SMM Provider A" in page and "fallback group" in page
    assert "EXT-5163781, EXT-5163782 speed" in page
    assert f'href="/w/acme/outbox/{ids["failed_msg"]}"' in page and "chat not found" in page
    assert '<option value="fastsmm.net">' in page  # the provider field suggests names seen
    assert await listed(order_id="5163782") == [ids["speed"]]
    assert await listed(order_id="516378") == []  # a whole id, not a part of one
    assert await listed(provider="FASTSMM") == [ids["speed"]]  # a route name
    assert await listed(provider="smmprovider.com") == [ids["refill"]]  # as the panel says
    assert await listed(status="failed") == [ids["speed"]]
    assert await listed(status="queued") == [ids["fallback"]]
    assert await listed(status="sent") == [ids["refill"]]
    assert await listed(action="cancel") == [ids["fallback"]]
    since = ago(hours=2, minutes=30).strftime("%Y-%m-%dT%H:%M")
    until = ago(minutes=90).strftime("%Y-%m-%dT%H:%M")
    assert await listed(since=since, until=until) == [ids["speed"]]
    r = await agent.get(URL, params={"status": "lost"})
    assert field_errors(r.text) == {"status": "Choose a delivery status from the list."}
    r = await agent.get(URL, params={"order_id": "1"})
    assert "No dispatch matches these filters" in r.text


async def test_paging(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    ws = tenants.acme_id
    tg = await add_channel(ctx, ws)
    made = [await add_dispatch(ctx, ws, channel_id=tg, command_id=None,
                               order_ids=(str(2274300 + n),)) for n in range(52)]
    owner = await clients(OWNER)
    first = await owner.get(URL, params={"action": "refill"})
    assert shown(first.text) == made[::-1][:50]
    link = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert link is not None and "action=refill" in link.group(1)
    second = await owner.get(link.group(1).replace("&amp;", "&"))
    assert shown(second.text) == made[::-1][50:]


async def test_detail_with_delivery_attempts(ctx: Context, clients: ClientFactory,
                                             tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    owner = await clients(OWNER)
    page = (await owner.get(f"{URL}/{ids['speed']}")).text
    assert f"Dispatch #{ids['speed']}" in page
    assert "EXT-5163781, EXT-5163782 speed" in page and "fastsmm.net" in page
    assert "Not delivered to the provider." in page and "chat_not_found" not in page.split(
        "Not delivered")[0]
    assert "Internal Server Error" in page  # every attempt
    assert f'href="/w/acme/outbox/{ids["failed_msg"]}"' in page
    page = (await owner.get(f"{URL}/{ids['refill']}")).text
    assert f'href="/w/acme/commands/{ids["cmd"]}"' in page and "john_doe" in page
    assert (await owner.get(f"{URL}/999999")).status_code == 404
    theirs = await add_dispatch(ctx, tenants.other_id, channel_id=ids["tg"], command_id=None)
    assert (await owner.get(f"{URL}/{theirs}")).status_code == 404


async def test_api_filters_match_the_page(ctx: Context, client: httpx.AsyncClient,
                                          tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    auth = Tenants.auth(tenants.agent)

    async def listed(**params: Any) -> list[int]:
        r = await client.get(f"{API}/dispatches", params=params, headers=auth)
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()]

    assert await listed(command_id=ids["cmd"]) == [ids["refill"]]
    assert await listed(status="failed", provider="fastsmm") == [ids["speed"]]
    assert await listed(since=ago(hours=2, minutes=30).isoformat(),
                        until=ago(minutes=90).isoformat()) == [ids["speed"]]
    assert await listed(limit=1, before=ids["fallback"]) == [ids["speed"]]
