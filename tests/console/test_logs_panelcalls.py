"""The panel API log page: every filter (time, outcome, endpoint, purpose), paging, the detail
view, and the API's matching filters."""

from __future__ import annotations

import re
from typing import Any

import httpx

from panelpilot.context import Context
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, field_errors
from tests.console.orderlogdata import add_call, add_command, ago
from tests.support import Tenants

URL = "/w/acme/panel-calls"
API = "/api/v1/workspaces/acme/orders"


def shown(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'aria-label="Panel call (\d+)"', page)]


async def _seed(ctx: Context, ws: int) -> dict[str, Any]:
    cmd = await add_command(ctx, ws)
    return {
        "cmd": cmd,
        "orders": await add_call(ctx, ws, command_id=cmd, created_at=ago(hours=3)),
        "down": await add_call(ctx, ws, ok=False, reason="server_error", status_code=500,
                               error="The panel had a server error (HTTP 500).",
                               created_at=ago(hours=2)),
        "tickets": await add_call(ctx, ws, operation="list_tickets", purpose="tickets",
                                  detail="after 500", created_at=ago(hours=1)),
        "html": await add_call(ctx, ws, operation="list_tickets", purpose="tickets", ok=False,
                               reason="html_page", status_code=403, detail="after 500",
                               error="The panel answered with an HTML page (HTTP 403).",
                               created_at=ago(minutes=10)),
    }


async def test_empty_log(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    page = (await (await clients(AGENT)).get(URL)).text
    assert "No panel call yet" in page


async def test_list_and_every_filter(ctx: Context, clients: ClientFactory,
                                     tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    agent = await clients(AGENT)

    async def listed(**params: str) -> list[int]:
        r = await agent.get(URL, params=params)
        assert r.status_code == 200 and field_errors(r.text) == {}, field_errors(r.text)
        return shown(r.text)

    page = (await agent.get(URL)).text
    assert shown(page) == [ids["html"], ids["tickets"], ids["down"], ids["orders"]]
    assert "HTTP 500" in page and "85 ms" in page and "Ticket runner" in page
    assert f'href="/w/acme/commands/{ids["cmd"]}"' in page
    assert await listed(ok="error") == [ids["html"], ids["down"]]
    assert await listed(ok="ok") == [ids["tickets"], ids["orders"]]
    assert await listed(operation="list_tickets") == [ids["html"], ids["tickets"]]
    assert await listed(operation="list_tickets", ok="error") == [ids["html"]]
    assert await listed(purpose="chat") == [ids["down"], ids["orders"]]
    assert await listed(since=ago(hours=2, minutes=30).strftime("%Y-%m-%dT%H:%M"),
                        until=ago(minutes=30).strftime("%Y-%m-%dT%H:%M")) == [
        ids["tickets"], ids["down"]]
    r = await agent.get(URL, params={"ok": "maybe", "operation": "drop_tables"})
    assert field_errors(r.text) == {"ok": "Choose an outcome from the list.",
                                    "operation": "Choose an endpoint from the list."}
    assert "No call matches these filters" in (await agent.get(
        URL, params={"operation": "get_user"})).text


async def test_paging(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    made = [await add_call(ctx, tenants.acme_id, ok=False, reason="timeout")
            for _ in range(51)]
    await add_call(ctx, tenants.acme_id)
    owner = await clients(OWNER)
    first = await owner.get(URL, params={"ok": "error"})
    assert shown(first.text) == made[::-1][:50]
    link = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert link is not None and "ok=error" in link.group(1)
    assert shown((await owner.get(link.group(1).replace("&amp;", "&"))).text) == made[:1]


async def test_detail(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    owner = await clients(OWNER)
    page = (await owner.get(f"{URL}/{ids['html']}")).text
    assert f"Panel call #{ids['html']}" in page and "list_tickets" in page
    assert "mostly a Cloudflare check" in page and "403" in page
    page = (await owner.get(f"{URL}/{ids['orders']}")).text
    assert f'href="/w/acme/commands/{ids["cmd"]}"' in page and "2274209 refill" in page
    assert (await owner.get(f"{URL}/999999")).status_code == 404
    theirs = await add_call(ctx, tenants.other_id)
    assert (await owner.get(f"{URL}/{theirs}")).status_code == 404


async def test_api_filters_match_the_page(ctx: Context, client: httpx.AsyncClient,
                                          tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    auth = Tenants.auth(tenants.agent)

    async def listed(**params: Any) -> list[int]:
        r = await client.get(f"{API}/panel-calls", params=params, headers=auth)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()]

    assert await listed(command_id=ids["cmd"]) == [ids["orders"]]
    assert await listed(ok=False, operation="list_tickets") == [ids["html"]]
    assert await listed(purpose="tickets", limit=1) == [ids["html"]]
    r = await client.get(f"{API}/panel-calls/{ids['down']}", headers=auth)
    assert r.status_code == 200 and r.json()["status_code"] == 500
