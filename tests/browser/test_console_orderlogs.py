"""The order-log pages in a real Chromium: finding a customer's command by its order id and
following it to its dispatch and answer, the panel API log, clearing a cooldown after the
confirmation, an agent who can only read, and a phone-sized screen. Screenshots 50-59 go to
artifacts/screenshots/."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from panelpilot.db.base import utcnow
from panelpilot.orders.models import OrderCooldown
from panelpilot.panels import service as panels
from tests.browser.conftest import AGENT, OWNER, Site, screenshot, sign_in
from tests.console.logdata import add_channel, add_chat, add_event, add_outbound
from tests.console.orderlogdata import (
    add_call,
    add_command,
    add_cooldown,
    add_dispatch,
    add_ticket,
)

PANEL_KEY = "pp-admin-key-7f3a9c1e55d24b08"


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Sections").get_by_role("link", name=name,
                                                                       exact=True)


def _seed(site: Site) -> dict[str, int]:
    async def seed() -> dict[str, int]:
        ctx, ws, now = site.ctx, site.acme_id, utcnow()
        async with ctx.db.session(ws) as s:
            await panels.set_connection(s, ctx.keyring, ws, panel_type="perfectpanel",
                                        url="https://smm-panel.test", api_key=PANEL_KEY)
        tg = await add_channel(ctx, ws, key="support-bot")
        await add_chat(ctx, ws, tg, "5512345", title="Jane Buyer", role="customer")
        await add_chat(ctx, ws, tg, "-1001987654321", title="SMM Provider A",
                       chat_type="supergroup", role="provider_group")
        ids: dict[str, int] = {}
        for n, (text, action, outcome, orders) in enumerate((
                ("hello there", None, "unrecognized", ()),
                ("2274300, 2274301 speed", "speed", "mixed",
                 (("2274300", "sent"), ("2274301", "too_early"))),
                ("5163781 cancel", "cancel", "not_eligible", (("5163781", "not_eligible"),)),
                ("status 2274400", "status", "status", (("2274400", "status"),)))):
            await add_command(ctx, ws, channel_id=tg, text=text, outcome=outcome,
                              orders=orders, action=action,
                              kind="order_action" if orders else "unrecognized",
                              error_type=None if orders else "unrecognized", reply="",
                              created_at=now - timedelta(hours=5 - n), latency_ms=90 + 40 * n)
        ids["event"] = await add_event(ctx, ws, tg, chat_id="5512345", text="2274209 refill",
                                       received_at=now - timedelta(minutes=20))
        ids["command"] = await add_command(
            ctx, ws, channel_id=tg, text="2274209 refill", event_id=ids["event"],
            created_at=now - timedelta(minutes=20), latency_ms=412)
        ids["answer"] = await add_outbound(ctx, ws, tg, chat_id="5512345",
                                           text="✅ 2274209: refill request sent.",
                                           source_event_id=ids["event"],
                                           attempts=((True, "", ""),))
        ids["sent"] = await add_outbound(ctx, ws, tg, chat_id="-1001987654321",
                                         text="EXT-2274209 refill", purpose="dispatch",
                                         attempts=((True, "", ""),))
        ids["dispatch"] = await add_dispatch(ctx, ws, channel_id=tg, command_id=ids["command"],
                                             message_id=ids["sent"],
                                             created_at=now - timedelta(minutes=20))
        ids["cooldown"] = await add_cooldown(ctx, ws, command_id=ids["command"],
                                             minutes=1420, hits=2)
        await add_cooldown(ctx, ws, order_id="2274100", minutes=-30, requested_by="max_b",
                           created_at=now - timedelta(days=1))
        await add_ticket(ctx, ws, ticket_id="501", command_id=ids["command"])
        await add_ticket(ctx, ws, ticket_id="502", username="jane_smith", status="reply_failed",
                         action="speed", order_ids=("5163781",), attempts=2,
                         error="server_error: the panel had a server error (HTTP 500).")
        for n, (op, purpose, ok, reason, code, error) in enumerate((
                ("list_services", "service cache", True, "", None, ""),
                ("list_tickets", "tickets", False, "html_page", 503,
                 "The panel answered with an HTML page (HTTP 503) instead of JSON, probably a "
                 "Cloudflare check or a hosting error page."),
                ("get_orders", "chat", False, "timeout", None,
                 "The panel did not answer in time."),
                ("get_user", "balance", True, "", None, ""))):
            await add_call(ctx, ws, operation=op, purpose=purpose, ok=ok, reason=reason,
                           status_code=code, error=error, detail="",
                           created_at=now - timedelta(hours=3 - n), duration_ms=120 + 300 * n)
        ids["call"] = await add_call(ctx, ws, command_id=ids["command"],
                                     created_at=now - timedelta(minutes=20))
        return ids
    return site.run(seed())


def test_find_a_command_by_order_id_and_follow_it(page: Any, site: Site) -> None:
    ids = _seed(site)
    sign_in(page, OWNER)
    nav(page, "Commands").click()
    expect(page.get_by_role("heading", name="Command log")).to_be_visible()
    rows = page.locator("table.log tbody tr")
    expect(rows).to_have_count(5)
    screenshot(page, "50-command-log")

    page.get_by_label("Order id").fill("2274209")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("2274209 refill")
    expect(rows.first).to_contain_text("john_doe")
    assert "order_id=2274209" in page.url
    page.get_by_role("link", name=f"Command {ids['command']}").click()
    page.wait_for_url(f"{site.url}/w/acme/commands/{ids['command']}")
    main = page.locator("main")
    expect(page.get_by_role("heading", name=f"Command #{ids['command']}")).to_be_visible()
    orders = page.locator("section", has=page.get_by_role("heading", name="Each order"))
    expect(orders.locator("tbody tr")).to_have_count(1)
    expect(orders).to_contain_text("Sent to the provider")
    expect(orders).to_contain_text("completed")
    expect(main).to_contain_text("✅ 2274209: refill request sent.")
    expect(main).to_contain_text("EXT-2274209 refill")
    expect(main).to_contain_text("Jane Buyer")
    screenshot(page, "51-command-detail")

    # From the command to its dispatch, and from there to its delivery.
    page.get_by_role("link", name=f"#{ids['dispatch']}", exact=True).click()
    page.wait_for_url(f"{site.url}/w/acme/dispatches/{ids['dispatch']}")
    expect(page.locator("main")).to_contain_text("SMM Provider A")
    page.get_by_role("link", name="Open in the delivery log").click()
    page.wait_for_url(f"{site.url}/w/acme/outbox/{ids['sent']}")
    page.go_back()
    page.wait_for_url(f"{site.url}/w/acme/dispatches/{ids['dispatch']}")
    page.get_by_role("link", name="Open the command").click()
    page.wait_for_url(f"{site.url}/w/acme/commands/{ids['command']}")
    # ...and to the message it came from.
    page.get_by_role("link", name=f"event #{ids['event']}").click()
    page.wait_for_url(f"{site.url}/w/acme/messages/{ids['event']}")
    expect(page.locator("main")).to_contain_text("2274209 refill")


def test_filter_by_verdict_and_the_other_logs(page: Any, site: Site) -> None:
    _seed(site)
    sign_in(page, OWNER)
    nav(page, "Commands").click()
    page.get_by_label("Verdict").select_option("refused")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.log tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("main")).to_contain_text("Start time not passed")

    nav(page, "Dispatches").click()
    expect(page.locator("table.log tbody tr")).to_have_count(1)
    expect(page.locator("main")).to_contain_text("SMM Provider A")
    screenshot(page, "53-dispatch-log")

    nav(page, "Panel tickets").click()
    expect(page.locator("table.log tbody tr")).to_have_count(2)
    page.get_by_role("link", name="Ticket 502").click()
    expect(page.locator(".banner-warn")).to_contain_text("could not be posted on the panel")
    screenshot(page, "55-panel-ticket")

    nav(page, "Panel API").click()
    rows = page.locator("table.log tbody tr")
    expect(rows).to_have_count(5)
    page.get_by_label("Outcome").select_option("error")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    expect(page.locator("main")).to_contain_text("Cloudflare check")
    assert PANEL_KEY not in page.content()
    screenshot(page, "52-panel-api-log")


def test_owner_clears_a_cooldown_agent_only_reads(page: Any, site: Site) -> None:
    ids = _seed(site)
    sign_in(page, OWNER)
    nav(page, "Cooldowns").click()
    expect(page.locator(".banner-info")).to_contain_text("1 cooldown is running now.")
    rows = page.locator("table.log tbody tr")
    expect(rows).to_have_count(2)
    screenshot(page, "54-cooldowns")
    # The page fixture accepts the confirmation dialog.
    rows.filter(has_text="2274209").get_by_role("button", name="Clear").click()
    expect(page.locator(".flash-success")).to_contain_text(
        "The refill cooldown of order 2274209 is cleared")
    expect(rows).to_have_count(1)

    async def left() -> list[int]:
        async with site.ctx.db.session(site.acme_id) as s:
            return [c.id for c in (await s.execute(select(OrderCooldown))).scalars()]
    assert ids["cooldown"] not in site.run(left())

    page.context.clear_cookies()
    sign_in(page, AGENT)
    nav(page, "Cooldowns").click()
    expect(rows).to_have_count(1)
    expect(page.get_by_role("button", name="Clear")).to_have_count(0)


def test_command_log_on_a_phone(browser: Any, site: Site) -> None:
    _seed(site)
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=site.url)
    phone = context.new_page()
    try:
        sign_in(phone, OWNER)
        phone.goto("/w/acme/commands?order_id=2274209")
        rows = phone.locator("table.log tbody tr")
        expect(rows).to_have_count(1)
        # Table cells stack with their labels on a small screen.
        expect(rows.first.locator('td[data-label="Outcome"]')).to_be_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, width
        screenshot(phone, "56-command-log-phone")
    finally:
        context.close()
