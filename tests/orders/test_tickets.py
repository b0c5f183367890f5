"""Panel tickets as order commands: subject rules, the same workflow with the ticket's user as
owner, a reply on the ticket, non-matching tickets untouched, each ticket decided once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from panelpilot.context import Context
from panelpilot.orders.models import CommandLog, Dispatch, OrderSettings, PanelTicketLog
from panelpilot.orders.rules import OrderRules
from panelpilot.orders.tickets import PanelTicketsRunner, process_tickets, request_of
from tests.orders.helpers import PROVIDER_GROUP, SUPPORT, Shop, make_shop

TICKET_RULES = "  tickets: {enabled: true}\n"


@pytest.fixture
async def ticket_shop(ctx: Context) -> AsyncIterator[Shop]:
    async for s in make_shop(ctx, extra_rules=TICKET_RULES):
        yield s


async def _log(shop: Shop) -> dict[str, PanelTicketLog]:
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        return {r.ticket_id: r for r in (await s.execute(select(PanelTicketLog))).scalars()}


async def test_matching_tickets_run_the_workflow_and_get_a_reply(ticket_shop: Shop) -> None:
    shop = ticket_shop
    stats = await process_tickets(shop.ctx, shop.workspace_id)
    assert stats == {"seen": 4, "matched": 3, "answered": 3, "failed": 0}
    assert shop.panel.replies_to(501) == ["✅ 2274209: refill request sent."]
    assert shop.panel.replies_to(502) == [
        "❌ 2274218: speed is not possible, the order is completed."]
    [reply] = shop.panel.replies_to(504)
    assert reply.splitlines()[0] == "✅ 2274216: refill request sent."
    assert reply.splitlines()[1].startswith(
        "❌ 2274217: refill is not possible, the 30-day refill period ended on")
    # non-matching (Payment) and old (closed two days ago) tickets are left alone
    assert shop.panel.replies_to(503) == [] and shop.panel.replies_to(500) == []
    log = await _log(shop)
    assert sorted(log) == ["501", "502", "504"]
    assert log["501"].status == "replied" and log["501"].username == "john_doe"
    assert log["504"].action == "refill" and log["504"].order_ids == ["2274216", "2274217"]
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        dispatches = list((await s.execute(select(Dispatch).order_by(Dispatch.id))).scalars())
        commands = list((await s.execute(select(CommandLog))).scalars())
    assert [(d.chat_id, d.text) for d in dispatches] == [
        (str(PROVIDER_GROUP), "EXT-99812 refill"),
        (str(SUPPORT), "No route for provider Perfect Smm: 451278 refill (panel order "
                       "2274216)")]
    assert {c.source for c in commands} == {"ticket"}
    assert {c.ticket_id for c in commands} == {"501", "502", "504"}


async def test_each_ticket_is_decided_once(ticket_shop: Shop) -> None:
    shop = ticket_shop
    await process_tickets(shop.ctx, shop.workspace_id)
    again = await process_tickets(shop.ctx, shop.workspace_id)
    assert again["answered"] == 0 and again["matched"] == 0
    assert len(shop.panel.replies_to(501)) == 1
    # a new ticket later is picked up, and only it
    shop.panel.add_ticket("john_doe", "Orders", "Order ID: 2274210\nRequest: Speed up")
    stats = await process_tickets(shop.ctx, shop.workspace_id)
    assert stats["answered"] == 1
    new = max(shop.panel.store.tickets, key=int)
    assert shop.panel.replies_to(new) == ["✅ 2274210: speed request sent."]


async def test_the_ticket_user_is_the_owner(ticket_shop: Shop) -> None:
    shop = ticket_shop
    shop.panel.add_ticket("jane_smith", "Order", "2274209 refill")  # john's order
    await process_tickets(shop.ctx, shop.workspace_id)
    new = max(shop.panel.store.tickets, key=int)
    assert shop.panel.replies_to(new) == ["❌ 2274209: this order is not on your account."]


async def test_tickets_that_ask_for_nothing_we_do_are_left_alone(ticket_shop: Shop) -> None:
    shop = ticket_shop
    for message in ("Request: Other\nOrder ID: 2274209", "my order is slow", "2274209"):
        shop.panel.add_ticket("john_doe", "Order", message)
    await process_tickets(shop.ctx, shop.workspace_id)
    for ticket_id in list(shop.panel.store.tickets)[-3:]:
        assert shop.panel.replies_to(ticket_id) == []


async def test_a_failed_reply_is_retried_without_deciding_again(
    ticket_shop: Shop, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from panelpilot.orders.panel import Panel
    from panelpilot.panels.base import PanelError

    shop = ticket_shop
    for ticket_id in ("502", "503", "504", "500"):
        del shop.panel.store.tickets[ticket_id]
    real_reply = Panel.reply_ticket

    async def down(self: Panel, ticket_id: str, message: str) -> None:
        raise PanelError("Perfect Panel had a server error (HTTP 502).", reason="server_error")

    monkeypatch.setattr(Panel, "reply_ticket", down)
    stats = await process_tickets(shop.ctx, shop.workspace_id)
    assert stats["failed"] == 1 and shop.panel.replies == []
    assert (await _log(shop))["501"].status == "reply_failed"
    monkeypatch.setattr(Panel, "reply_ticket", real_reply)
    stats = await process_tickets(shop.ctx, shop.workspace_id)
    assert stats["answered"] == 1
    assert shop.panel.replies_to(501) == ["✅ 2274209: refill request sent."]
    log = (await _log(shop))["501"]
    assert log.status == "replied" and log.attempts == 2
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        assert len(list((await s.execute(select(Dispatch))).scalars())) == 1


async def test_disabled_rules_and_other_panels_are_skipped(ctx: Context, shop: Shop) -> None:
    assert await process_tickets(shop.ctx, shop.workspace_id) == {
        "seen": 0, "matched": 0, "answered": 0, "failed": 0}
    assert shop.panel.replies == []
    info = await PanelTicketsRunner().tick(shop.ctx)
    assert info is not None and info["workspaces"] == 0


async def test_the_runner_answers_enabled_workspaces(ticket_shop: Shop) -> None:
    info = await PanelTicketsRunner().tick(ticket_shop.ctx)
    assert info is not None and info["workspaces"] == 1 and info["answered"] == 3
    async with ticket_shop.ctx.db.read_session(ticket_shop.workspace_id) as s:
        row = (await s.execute(select(OrderSettings))).scalar_one()
    assert row.ticket_cursor == "504" and row.tickets_error == ""


async def test_a_panel_error_is_noted_and_the_ticket_read_next_time(ticket_shop: Shop) -> None:
    shop = ticket_shop
    shop.panel.fail_next(500)
    stats = await process_tickets(shop.ctx, shop.workspace_id)
    assert stats["failed"] == 1 and shop.panel.replies == []
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        row = (await s.execute(select(OrderSettings))).scalar_one()
    assert "server_error" in row.tickets_error
    stats = await process_tickets(shop.ctx, shop.workspace_id)
    assert stats["answered"] == 3


@pytest.mark.parametrize(("message", "expected"), [
    ("2274209 refill", ("refill", ["2274209"])),
    ("Order ID: 2274218\nRequest: Speed up", ("speed", ["2274218"])),
    ("Request: Refill\nOrder ID: 2274216, 2274217", ("refill", ["2274216", "2274217"])),
    ("request: cancel\norder id: #2274209", ("cancel", ["2274209"])),
    ("Request: Other\nOrder ID: 2274209", None),
    ("Request: Refill", None),
    ("Hello, where is my order 2274209?", None),
])
def test_reading_a_ticket_request(message: str, expected: tuple[str, list[str]] | None) -> None:
    assert request_of(message, OrderRules(), {}) == expected
