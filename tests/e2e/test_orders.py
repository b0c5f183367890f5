"""Order support end to end: customers on Telegram and WhatsApp, the Perfect Panel simulator,
provider groups on either channel, the ticket runner in the workers, and the demo workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from panelpilot.orders.tickets import PanelTicketsRunner
from panelpilot.panels.service import set_connection
from panelpilot.sim.perfectpanel import PerfectPanelSim
from panelpilot.sim.server import LoopbackServer
from panelpilot.tenancy.service import create_token
from tests.e2e.harness import GREEN_ID, TG_TOKEN, Stack, eventually

JOHN_TG = 555000111
JANE_WA = "233248073506@c.us"
TG_PROVIDERS = -1001234567890
WA_PROVIDERS = "120363025000000001@g.us"


@pytest.fixture
async def panel(stack: Stack) -> AsyncIterator[PerfectPanelSim]:
    sim = PerfectPanelSim(seed=True, rate_limit=None)
    server = LoopbackServer(sim.app)
    await server.start()
    async with stack.ctx.db.session(stack.workspace_id) as s:
        await set_connection(s, stack.ctx.keyring, stack.workspace_id, panel_type="perfectpanel",
                             url=server.url, api_key=sim.admin_key, user_api_key=sim.user_key)
    try:
        yield sim
    finally:
        await server.stop()


async def _api(stack: Stack) -> Any:
    async with stack.ctx.db.session(stack.workspace_id) as s:
        token = (await create_token(s, stack.workspace_id, name="e2e", role="owner")).plaintext
    headers = {"Authorization": f"Bearer {token}"}

    async def call(method: str, path: str, json: Any = None) -> Any:
        r = await stack.http.request(method, f"/api/v1/workspaces/acme/orders{path}",
                                     json=json, headers=headers)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    return call


async def test_telegram_customer_refill_reaches_the_telegram_provider_group(
    stack: Stack, panel: PerfectPanelSim,
) -> None:
    await stack.telegram("webhook")
    stack.tg.add_chat(TG_TOKEN, TG_PROVIDERS, "supergroup", title="Providers")
    api = await _api(stack)
    await api("POST", "/providers", {"name": "smmprovider", "match": ["smmprovider.com"],
                                     "group": {"channel": "tg", "chat": str(TG_PROVIDERS)}})
    await api("POST", "/linked-chats", {"channel": "tg", "chat": str(JOHN_TG),
                                        "username": "john_doe"})
    stack.tg.user_says(TG_TOKEN, JOHN_TG, "2274209 refill")
    answer = await eventually(lambda: stack.tg.sent(TG_TOKEN, JOHN_TG))
    assert answer[0]["text"] == "✅ 2274209: refill request sent."
    dispatched = await eventually(lambda: stack.tg.sent(TG_TOKEN, TG_PROVIDERS))
    assert [m["text"] for m in dispatched] == ["EXT-99812 refill"]

    async def delivered() -> Any:
        rows = await api("GET", "/dispatches")
        return rows if rows and rows[0]["delivery"]["status"] == "sent" else None

    [row] = await eventually(delivered)
    assert row["route_name"] == "smmprovider" and row["chat_id"] == str(TG_PROVIDERS)
    # the provider talking in its group gets no answer
    stack.tg.user_says(TG_TOKEN, TG_PROVIDERS, "EXT-99812 refill done", user_id=4040)
    stack.tg.user_says(TG_TOKEN, JOHN_TG, "2274209 refill")
    second = await eventually(lambda: stack.tg.sent(TG_TOKEN, JOHN_TG)[1:])
    assert second[0]["text"].startswith("⏳ 2274209: refill was already requested.")
    assert len(stack.tg.sent(TG_TOKEN, TG_PROVIDERS)) == 1


async def test_whatsapp_bulk_command_reaches_a_whatsapp_provider_group(
    stack: Stack, panel: PerfectPanelSim,
) -> None:
    await stack.greenapi("webhook")
    api = await _api(stack)
    await api("POST", "/providers", {
        "name": "fastsmm", "match": ["fastsmm.net"],
        "group": {"channel": "wa", "chat": WA_PROVIDERS},
        "commands": {"refill": "{external_id} refill"}})
    await api("POST", "/linked-chats", {"channel": "wa", "chat": "+233 248073506",
                                        "username": "jane_smith"})
    stack.green.user_says(GREEN_ID, JANE_WA, "5163781, 5163782 refill\n2274209 refill")
    answer = await eventually(lambda: stack.green.sent(GREEN_ID, JANE_WA))
    assert answer[0].message == ("✅ 5163781, 5163782: refill request sent.\n"
                                 "❌ 2274209: this order is not on your account.")
    dispatched = await eventually(lambda: stack.green.sent(GREEN_ID, WA_PROVIDERS))
    assert [m.message for m in dispatched] == ["5163781, 5163782 refill"]


async def test_panel_tickets_are_answered_by_the_workers(
    stack: Stack, panel: PerfectPanelSim, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await stack.stop_workers()
    monkeypatch.setattr(PanelTicketsRunner, "interval", 0.2)
    await stack.telegram("webhook")
    stack.tg.add_chat(TG_TOKEN, TG_PROVIDERS, "supergroup", title="Providers")
    api = await _api(stack)
    await api("POST", "/providers", {"name": "smmprovider", "match": ["smmprovider.com"],
                                     "group": {"channel": "tg", "chat": str(TG_PROVIDERS)}})
    await api("PUT", "/settings", {"rules": {"tickets": {"enabled": True}}})
    stack.start_workers()
    replies = await eventually(lambda: panel.replies_to(501))
    assert replies == ["✅ 2274209: refill request sent."]
    dispatched = await eventually(lambda: stack.tg.sent(TG_TOKEN, TG_PROVIDERS))
    assert [m["text"] for m in dispatched] == ["EXT-99812 refill"]
    assert panel.replies_to(503) == []  # "Payment": not an order ticket

    async def all_answered() -> Any:
        rows = await api("GET", "/panel-tickets", None)
        return rows if {t["status"] for t in rows} == {"replied"} and len(rows) == 3 else None

    tickets = await eventually(all_answered)
    assert sorted(t["ticket_id"] for t in tickets) == ["501", "502", "504"]


async def test_the_demo_workspace_answers_2274209_refill(
    stack: Stack, panel: PerfectPanelSim,
) -> None:
    from panelpilot.orders.demo import seed_demo_workspace
    from panelpilot.panels.service import get_connection

    channel_id = await stack.telegram("webhook")
    stack.tg.add_chat(TG_TOKEN, TG_PROVIDERS, "supergroup", title="Providers")
    async with stack.ctx.db.session(stack.workspace_id) as s:
        conn = await get_connection(s)
        assert conn is not None
        url = conn.base_url
    result = await seed_demo_workspace(
        stack.ctx, stack.workspace_id, panel_url=url, provider_channel_id=channel_id,
        provider_chat_id=str(TG_PROVIDERS), customer_channel_id=channel_id,
        customer_chat_id="100200300")
    assert result["username"] == "john_doe" and result["services"] == 22
    stack.tg.user_says(TG_TOKEN, 100200300, "2274209 refill")
    answer = await eventually(lambda: stack.tg.sent(TG_TOKEN, 100200300))
    assert answer[0]["text"] == "✅ 2274209: refill request sent."
    dispatched = await eventually(lambda: stack.tg.sent(TG_TOKEN, TG_PROVIDERS))
    assert [m["text"] for m in dispatched] == ["EXT-99812 refill"]
    # seeding twice is harmless
    await seed_demo_workspace(
        stack.ctx, stack.workspace_id, panel_url=url, provider_channel_id=channel_id,
        provider_chat_id=str(TG_PROVIDERS), customer_channel_id=channel_id,
        customer_chat_id="100200300")
