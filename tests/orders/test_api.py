"""The order-support API: logs with filters and paging, set-up, and tenant isolation of every
endpoint (an outsider gets 404 for every id; an agent reads but never writes)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from panelpilot.context import Context
from panelpilot.orders.tickets import process_tickets
from panelpilot.web.app import create_app
from tests.orders.helpers import JANE, JOHN, PROVIDER_GROUP, STRANGER, Shop, make_shop
from tests.orders.isolation import ORDER_BODIES, order_ids
from tests.support import Tenants

BASE = "/api/v1/workspaces/acme/orders"


@pytest.fixture
async def live(ctx: Context, tenants: Tenants) -> AsyncIterator[Shop]:
    """acme (owner, agent) with order support over the simulator; ``other`` is the outsider."""
    async for s in make_shop(ctx, extra_rules="  tickets: {enabled: true}\n"):
        yield s


def _get(client: httpx.AsyncClient, token: str) -> Any:
    async def get(path: str, **params: Any) -> Any:
        r = await client.get(BASE + path, params=params, headers=Tenants.auth(token))
        assert r.status_code == 200, r.text
        return r.json()

    return get


async def test_command_log_filters_and_paging(live: Shop, client: httpx.AsyncClient,
                                              tenants: Tenants) -> None:
    await live.say(JOHN, "2274209 refill")
    await live.say(JOHN, "2274209, 9999999 refill")
    await live.say(JANE, "5163781 refill")
    await live.say(STRANGER, "hello there")
    get = _get(client, tenants.agent)
    everything = await get("/commands")
    assert [c["text"] for c in everything] == ["hello there", "5163781 refill",
                                               "2274209, 9999999 refill", "2274209 refill"]
    first = everything[-1]
    assert first["orders"] == [{"order_id": "2274209", "verdict": "sent", "reason": "",
                                "detail": first["orders"][0]["detail"], "status": "completed",
                                "provider": "smmprovider.com", "external_id": "EXT-99812",
                                "dispatch_id": first["orders"][0]["dispatch_id"]}]
    assert first["latency_ms"] >= 0 and first["username"] == "john_doe"
    by_order = await get("/commands", order_id="2274209")
    assert [c["id"] for c in by_order] == [everything[2]["id"], everything[3]["id"]]
    cooldown_hits = await get("/commands", verdict="cooldown")
    assert [c["id"] for c in cooldown_hits] == [everything[2]["id"]]
    assert [c["text"] for c in await get("/commands", username="JANE_SMITH")] == [
        "5163781 refill"]
    assert [c["kind"] for c in await get("/commands", kind="unrecognized")] == ["unrecognized"]
    page = await get("/commands", limit=2)
    rest = await get("/commands", limit=2, before=page[-1]["id"])
    assert [c["id"] for c in page + rest] == [c["id"] for c in everything]
    detail = await get(f"/commands/{first['id']}")
    assert detail["reply"] == "✅ 2274209: refill request sent."
    later = await get("/commands", since=first["created_at"], chat_id=str(JANE))
    assert [c["text"] for c in later] == ["5163781 refill"]


async def test_failed_commands_report(live: Shop, client: httpx.AsyncClient,
                                      tenants: Tenants) -> None:
    for text in ("hello there", "hello there", "stat 2274209", "2274209"):
        await live.say(JOHN, text)
    await live.say(STRANGER, "hello there")
    rows = await _get(client, tenants.owner)("/failed-commands")
    assert rows[0]["text"] == "hello there" and rows[0]["occurrences"] == 3
    assert rows[0]["chats"] == 2 and rows[0]["error_type"] == "unrecognized"
    typo = next(r for r in rows if r["text"] == "stat 2274209")
    assert (typo["error_type"], typo["suggestion"]) == ("typo", "status")
    only = await _get(client, tenants.owner)("/failed-commands", error_type="missing_action")
    assert [r["text"] for r in only] == ["2274209"]


async def test_dispatch_log_with_delivery(live: Shop, client: httpx.AsyncClient,
                                          tenants: Tenants) -> None:
    await live.say(JOHN, "2274209 refill")
    await live.say(JANE, "5163781 5163782 refill")
    get = _get(client, tenants.agent)
    rows = await get("/dispatches")
    assert [(r["route_name"], r["text"], r["order_ids"]) for r in rows] == [
        ("fastsmm", "5163781, 5163782 refill please", ["5163781", "5163782"]),
        ("smmprovider", "EXT-99812 refill", ["2274209"])]
    assert rows[0]["chat_id"] == str(PROVIDER_GROUP)
    assert rows[0]["delivery"]["status"] == "queued" and rows[0]["delivery"]["attempts"] == 0
    assert [r["id"] for r in await get("/dispatches", order_id="5163782")] == [rows[0]["id"]]
    assert [r["id"] for r in await get("/dispatches", provider="smmprovider.com")] == [
        rows[1]["id"]]
    assert await get("/dispatches", status="sent") == []
    assert (await get(f"/dispatches/{rows[1]['id']}"))["external_ids"] == ["EXT-99812"]


async def test_cooldowns_listed_and_cleared(live: Shop, client: httpx.AsyncClient,
                                            tenants: Tenants) -> None:
    await live.say(JOHN, "2274209 refill")
    await live.say(JOHN, "2274209 refill")
    rows = await _get(client, tenants.agent)("/cooldowns", active=True)
    assert [(r["order_id"], r["action"], r["hits"], r["active"]) for r in rows] == [
        ("2274209", "refill", 1, True)]
    r = await client.delete(f"{BASE}/cooldowns/{rows[0]['id']}",
                            headers=Tenants.auth(tenants.agent))
    assert r.status_code == 403
    r = await client.delete(f"{BASE}/cooldowns/{rows[0]['id']}",
                            headers=Tenants.auth(tenants.owner))
    assert r.status_code == 204
    assert (await live.say(JOHN, "2274209 refill")).replies == [
        "✅ 2274209: refill request sent."]


async def test_ticket_activity_and_panel_calls(live: Shop, client: httpx.AsyncClient,
                                               tenants: Tenants) -> None:
    await process_tickets(live.ctx, live.workspace_id)
    live.panel.fail_next(500)
    await live.say(JOHN, "2274209 refill")
    get = _get(client, tenants.agent)
    tickets = await get("/panel-tickets")
    assert sorted(t["ticket_id"] for t in tickets) == ["501", "502", "504"]
    assert {t["status"] for t in tickets} == {"replied"}
    one = await get("/panel-tickets", ticket_id="501")
    assert one[0]["reply"] == "✅ 2274209: refill request sent."
    assert (await get(f"/panel-tickets/{one[0]['id']}"))["username"] == "john_doe"
    failed = await get("/panel-calls", ok=False)
    assert [(c["operation"], c["reason"]) for c in failed] == [("get_orders", "server_error")]
    assert "HTTP 500" in failed[0]["error"]
    replies = await get("/panel-calls", operation="reply_ticket")
    assert len(replies) == 3 and all(c["ok"] for c in replies)


async def test_settings_routes_links_support_and_service_rules(
    live: Shop, client: httpx.AsyncClient, tenants: Tenants,
) -> None:
    owner = Tenants.auth(tenants.owner)
    settings = (await client.get(f"{BASE}/settings", headers=owner)).json()
    assert settings["rules"]["max_ids"] == 20 and settings["rules"]["cooldown_minutes"] == {
        "speed": 60, "cancel": 60, "refill": 1440}
    r = await client.put(f"{BASE}/settings", headers=owner,
                         json={"rules": {"max_ids": 2}, "aliases": {"yenile": "refill"}})
    assert r.status_code == 200 and r.json()["rules"]["max_ids"] == 2
    assert (await live.say(JOHN, "2274209 yenile")).replies == [
        "✅ 2274209: refill request sent."]
    r = await client.put(f"{BASE}/settings", headers=owner, json={"rules": {"max_ids": 0}})
    assert r.status_code == 422 and "max_ids" in r.json()["error"]["message"]
    r = await client.put(f"{BASE}/settings", headers=owner, json={"aliases": {"x": "boom"}})
    assert r.status_code == 422
    # provider routes
    r = await client.post(f"{BASE}/providers", headers=owner, json={
        "name": "smmlite", "match": ["smmlite.ru"],
        "group": {"channel": "tg", "chat": "-100800"},
        "commands": {"cancel": "отмена {external_id}"}})
    assert r.status_code == 201, r.text
    route = r.json()
    assert route["group"]["chat"] == "-100800"
    r = await client.post(f"{BASE}/providers", headers=owner,
                          json={"name": "dupe", "match": ["smmlite.ru"]})
    assert r.status_code == 422 and "listed by both" in r.json()["error"]["message"]
    # linked chats
    r = await client.post(f"{BASE}/linked-chats", headers=owner,
                          json={"channel": "tg", "chat": "555000444", "username": "ivan_petrov"})
    assert r.status_code == 201 and r.json()["source"] == "api"
    said = await live.say(555000444, "2274220 cancel")
    assert said.to(-100800) == ["отмена 77410023"]
    found = (await client.get(f"{BASE}/linked-chats", params={"q": "ivan"},
                              headers=owner)).json()
    assert [f["chat_id"] for f in found] == ["555000444"]
    r = await client.delete(f"{BASE}/linked-chats/{found[0]['id']}", headers=owner)
    assert r.status_code == 204
    r = await client.post(f"{BASE}/linked-chats", headers=owner,
                          json={"channel": "tg", "chat": "-100800", "username": "x"})
    assert r.status_code == 422  # a provider group is no customer
    # support chats
    r = await client.post(f"{BASE}/support-chats", headers=owner,
                          json={"channel": "tg", "chat": "-100901", "fallback": True})
    assert r.status_code == 201 and r.json()["fallback"]
    chats = (await client.get(f"{BASE}/support-chats", headers=owner)).json()
    assert [(c["chat_id"], c["fallback"]) for c in chats] == [("-100900", False),
                                                              ("-100901", True)]
    # service rules
    r = await client.put(f"{BASE}/services/102/rule", headers=owner,
                         json={"refill": 7, "note": "provider refills likes"})
    assert r.status_code == 200 and r.json()["refill"] == "7 days"
    assert r.json()["refill_from"] == "override"
    assert (await live.say(JOHN, "2274215 refill")).replies == [
        "✅ 2274215: refill request sent."]
    r = await client.put(f"{BASE}/services/102/rule", headers=owner, json={"start": "soon"})
    assert r.status_code == 422
    r = await client.delete(f"{BASE}/services/102/rule", headers=owner)
    assert r.status_code == 204


async def test_service_catalogue_view_and_refresh(live: Shop, client: httpx.AsyncClient,
                                                  tenants: Tenants) -> None:
    owner = Tenants.auth(tenants.owner)
    r = await client.post(f"{BASE}/services/refresh", headers=owner)
    assert r.json()["ok"] and r.json()["services"] == 22
    rows = (await client.get(f"{BASE}/services", params={"limit": 3}, headers=owner)).json()
    assert [r["service_id"] for r in rows] == ["101", "102", "103"]
    assert (rows[0]["start"], rows[0]["refill"], rows[0]["refill_from"]) == (
        "within 1 hour", "30 days", "name")
    nxt = (await client.get(f"{BASE}/services", params={"limit": 2, "after": "103"},
                            headers=owner)).json()
    assert [r["service_id"] for r in nxt] == ["104", "105"]
    turkish = (await client.get(f"{BASE}/services", params={"q": "Takipçi"},
                                headers=owner)).json()
    assert [r["service_id"] for r in turkish] == ["105"]


async def test_dry_run_shows_verdicts_and_dispatches_without_doing_anything(
    live: Shop, client: httpx.AsyncClient, tenants: Tenants,
) -> None:
    owner = Tenants.auth(tenants.owner)
    r = await client.post(f"{BASE}/check", headers=owner,
                          json={"text": "2274209 2274214 refill", "username": "john_doe"})
    result = r.json()
    assert [(v["order_id"], v["verdict"]) for v in result["verdicts"]] == [
        ("2274209", "sent"), ("2274214", "not_eligible")]
    assert [d["text"] for d in result["dispatches"]] == ["EXT-99812 refill"]
    assert result["answer"].startswith("✅ 2274209: refill request sent.")
    # nothing was claimed, queued or logged
    assert (await live.say(JOHN, "2274209 refill")).replies == [
        "✅ 2274209: refill request sent."]
    commands = (await client.get(f"{BASE}/commands", headers=owner)).json()
    assert len(commands) == 1
    as_support = (await client.post(f"{BASE}/check", headers=owner,
                                    json={"text": "2274218 refill"})).json()
    assert as_support["verdicts"][0]["verdict"] == "sent"


# --- isolation -------------------------------------------------------------------------------


def order_routes(ctx: Context) -> list[tuple[str, str]]:
    out = []
    for path, operations in create_app(ctx).openapi()["paths"].items():
        if path.startswith("/api/v1/workspaces/{slug}/orders"):
            out += [(method.upper(), path) for method in operations]
    assert len(out) >= 25, out
    return sorted(out)


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


async def test_every_order_endpoint_answers_404_to_an_outsider(
    ctx: Context, client: httpx.AsyncClient, tenants: Tenants,
) -> None:
    ids = {"slug": "acme", **await order_ids(ctx, tenants.acme_id)}
    for method, path in order_routes(ctx):
        response = await client.request(method, _fill(path, ids),
                                         json=ORDER_BODIES.get((method, path)),
                                         headers=Tenants.auth(tenants.outsider))
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    # and through its own workspace, acme's ids lead nowhere either
    ids["slug"] = "other"
    for method, path in order_routes(ctx):
        if path.count("{") < 2:
            continue
        if (path.endswith(("/services/{service_id}/rule", "/aliases/{word}"))
                and method == "PUT"):
            continue  # a rule for service 101 or an alias in *its own* workspace is its right
        response = await client.request(method, _fill(path, ids),
                                        json=ORDER_BODIES.get((method, path)),
                                        headers=Tenants.auth(tenants.outsider))
        assert response.status_code in (404, 422), (method, path, response.text)
    # nothing of acme shows in other's lists
    for path in ("/commands", "/dispatches", "/cooldowns", "/panel-tickets", "/panel-calls",
                 "/providers", "/linked-chats", "/support-chats", "/services",
                 "/failed-commands"):
        r = await client.get(f"/api/v1/workspaces/other/orders{path}",
                             headers=Tenants.auth(tenants.outsider))
        assert r.status_code == 200 and r.json() == [], (path, r.text)
    # acme is untouched
    owner = Tenants.auth(tenants.owner)
    assert len((await client.get(f"{BASE}/providers", headers=owner)).json()) == 1
    assert len((await client.get(f"{BASE}/cooldowns", headers=owner)).json()) == 1


async def test_agents_read_everything_and_change_nothing(
    ctx: Context, client: httpx.AsyncClient, tenants: Tenants,
) -> None:
    ids = {"slug": "acme", **await order_ids(ctx, tenants.acme_id)}
    for method, path in order_routes(ctx):
        response = await client.request(method, _fill(path, ids),
                                        json=ORDER_BODIES.get((method, path)),
                                        headers=Tenants.auth(tenants.agent))
        expected = 200 if method == "GET" else 403
        assert response.status_code == expected, (method, path, response.text)
    for token in (tenants.owner, tenants.platform):
        for method, path in order_routes(ctx):
            if method == "GET":
                r = await client.get(_fill(path, ids), headers=Tenants.auth(token))
                assert r.status_code == 200, (path, r.text)
