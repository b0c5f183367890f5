"""The template, chats and log pages in a real Chromium: editing a template with its live
preview, finding a command in the message log, the failed list and Retry, changing a chat's
role, an agent who can only read, and a phone-sized screen. Screenshots go to
artifacts/screenshots/."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from panelpilot.chats.models import Chat
from panelpilot.db.base import utcnow
from panelpilot.outbox.models import OutboundMessage
from panelpilot.templates import service as templates
from panelpilot.templates.models import Template
from tests.browser.conftest import AGENT, OWNER, Site, screenshot, sign_in
from tests.console.logdata import (
    BOT_TOKEN,
    add_channel,
    add_chat,
    add_event,
    add_outbound,
    telegram_update,
)

# A real template with values when the orders module is loaded; the same text otherwise.
KEY = "order_cooldown"
FALLBACK = "⏳ {ids}: {action} was already requested. You can ask again in {time_left}."


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Sections").get_by_role("link", name=name,
                                                                       exact=True)


def _override(site: Site) -> str | None:
    async def read() -> str | None:
        async with site.ctx.db.session(site.acme_id) as s:
            return (await s.execute(select(Template.text).where(Template.key == KEY))).scalar()
    return site.run(read())


def _seed_logs(site: Site) -> dict[str, int]:
    async def seed() -> dict[str, int]:
        ctx, ws = site.ctx, site.acme_id
        tg = await add_channel(ctx, ws, key="support-bot")
        now = utcnow()
        ids = {"tg": tg}
        ids["jane"] = await add_chat(ctx, ws, tg, "5512345", title="Jane Buyer", role="customer",
                                     last_inbound_at=now - timedelta(minutes=3))
        ids["group"] = await add_chat(ctx, ws, tg, "-1001987654321", title="SMM Provider A",
                                      chat_type="supergroup",
                                      last_inbound_at=now - timedelta(hours=2))
        ids["gone"] = await add_chat(ctx, ws, tg, "7788990", title="Max Blocked",
                                     role="customer", reachable=False, reason="blocked the bot",
                                     last_inbound_at=now - timedelta(days=3))
        for n, (chat, text, outcome) in enumerate((
                ("7788990", "hi", "silent"),
                ("5512345", "help", "help"),
                ("5512345", "2274209 refill", "orders: refill 1 order"),
                ("5512345", "2274300, 2274301 speed", "orders: speed 2 orders"))):
            ids[f"event{n}"] = await add_event(
                ctx, ws, tg, chat_id=chat, text=text, outcome=outcome, key=f"tg:{n}",
                payload=telegram_update(1000 + n, chat, text),
                received_at=now - timedelta(minutes=30 - n))
        ids["reply"] = await add_outbound(ctx, ws, tg, chat_id="5512345",
                                          text="✅ 2274209: refill request sent.",
                                          source_event_id=ids["event2"],
                                          attempts=((True, "", ""),))
        ids["dispatch"] = await add_outbound(
            ctx, ws, tg, chat_id="-1001987654321", text="EXT-99812 refill", purpose="dispatch",
            status="failed", reason="chat_not_found",
            error="Bad Request: chat not found", source_event_id=ids["event2"],
            attempts=((False, "server_error", "Internal Server Error"),
                      (False, "chat_not_found", "Bad Request: chat not found")))
        return ids
    return site.run(seed())


def test_edit_a_template_with_its_live_preview(page: Any, site: Site) -> None:
    added = KEY not in templates.DEFAULTS
    if added:
        templates.register_defaults({KEY: FALLBACK})
    try:
        sign_in(page, OWNER)
        nav(page, "Customer templates").click()
        expect(page.get_by_role("heading", name="Customer templates")).to_be_visible()
        screenshot(page, "16-templates")
        page.get_by_label("Search").fill("cooldown")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_role("link", name=KEY)).to_be_visible()
        expect(page.get_by_role("link", name="api_problem")).to_have_count(0)
        page.get_by_role("link", name=KEY).click()
        page.wait_for_url(f"{site.url}/w/acme/templates/{KEY}")
        preview = page.locator("#template-preview")
        expect(preview).to_contain_text("2274209, 2274210")  # the sample values

        # The preview follows the typing without reloading the page.
        page.evaluate("window.__sameDocument = true")
        text = page.get_by_label("Text customers get")
        text.fill("⏳ {ids}: please wait {time_left} before asking for a {action} again, {name}.")
        preview.locator("mark.unknown", has_text="{name}").wait_for()
        expect(preview).to_contain_text("please wait 3 hours before asking for a refill again")
        expect(preview).to_contain_text("is not one of this message's values")
        assert page.evaluate("window.__sameDocument") is True
        screenshot(page, "17-template-live-preview")

        text.fill("")
        page.get_by_role("button", name="Save wording").click()
        expect(page.locator("#err-text")).to_have_text("A template can not be empty.")
        assert _override(site) is None

        text.fill("⏳ {ids}: please wait {time_left} before asking for a {action} again.")
        page.get_by_role("button", name="Save wording").click()
        expect(page.locator(".flash-success")).to_contain_text("customers get your wording")
        assert _override(site) == \
            "⏳ {ids}: please wait {time_left} before asking for a {action} again."
        expect(page.locator(".field-warning")).to_have_count(0)
        screenshot(page, "18-template-saved")

        page.get_by_role("button", name="Reset to default").click()
        expect(page.locator(".flash-success")).to_contain_text("Back to the default wording.")
        assert _override(site) is None
        expect(page.get_by_label("Text customers get")).to_have_value(templates.DEFAULTS[KEY])
    finally:
        if added:
            templates.DEFAULTS.pop(KEY, None)


def test_find_a_command_in_the_message_log(page: Any, site: Site) -> None:
    ids = _seed_logs(site)
    sign_in(page, OWNER)
    nav(page, "Message log").click()
    rows = page.locator("table.log tbody tr")
    expect(rows).to_have_count(4)
    screenshot(page, "19-message-log")
    page.get_by_label("Text contains").fill("2274209")
    page.get_by_label("Chat id").fill("5512345")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("2274209 refill")
    assert "q=2274209" in page.url
    page.get_by_role("link", name=f"Event {ids['event2']}").click()
    page.wait_for_url(f"{site.url}/w/acme/messages/{ids['event2']}")
    expect(page.locator("main")).to_contain_text("orders: refill 1 order")
    expect(page.locator("pre.payload")).to_contain_text('"update_id": 1002')
    assert BOT_TOKEN not in page.content()
    screenshot(page, "20-message-detail")
    # From the event to what the bot sent for it.
    page.get_by_role("link", name=f"#{ids['dispatch']}").click()
    page.wait_for_url(f"{site.url}/w/acme/outbox/{ids['dispatch']}")
    expect(page.locator("main")).to_contain_text("Bad Request: chat not found")


def test_the_failed_list_and_retry(page: Any, site: Site) -> None:
    ids = _seed_logs(site)
    sign_in(page, OWNER)
    nav(page, "Delivery log").click()
    expect(page.locator(".banner")).to_contain_text("1 message failed for good")
    screenshot(page, "21-delivery-log")
    page.get_by_role("link", name="Open the failed list").click()
    expect(page.get_by_label("Status")).to_have_value("failed")
    expect(page.locator("table.log tbody tr")).to_have_count(1)
    page.get_by_role("link", name=f"Message {ids['dispatch']}").click()
    attempts = page.locator("section", has=page.get_by_role("heading", name="Attempts"))
    expect(attempts.locator("tbody tr")).to_have_count(2)
    screenshot(page, "22-delivery-detail")
    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".flash-success")).to_contain_text("is back in the queue")
    expect(page.locator(".page-head .badge").first).to_have_text("Queued")
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    async def status() -> str:
        async with site.ctx.db.session(site.acme_id) as s:
            return str((await s.execute(select(OutboundMessage.status).where(
                OutboundMessage.id == ids["dispatch"]))).scalar_one())
    assert site.run(status()) == "queued"
    nav(page, "Delivery log").click()
    expect(page.locator(".banner-warn")).to_have_count(0)
def test_change_a_chat_role(page: Any, site: Site) -> None:
    ids = _seed_logs(site)
    sign_in(page, OWNER)
    nav(page, "Chats").click()
    expect(page.locator("table.list tbody tr")).to_have_count(3)
    expect(page.locator("main")).to_contain_text("blocked the bot")
    screenshot(page, "23-chats")
    page.get_by_label("Role of SMM Provider A").select_option("provider_group")
    row = page.locator("tr", has_text="SMM Provider A")
    row.get_by_role("button", name="Change").click()
    expect(page.locator(".flash-success")).to_contain_text("SMM Provider A is now: provider group.")

    async def role() -> str:
        async with site.ctx.db.session(site.acme_id) as s:
            return str((await s.execute(select(Chat.role).where(Chat.id == ids["group"]))
                        ).scalar_one())
    assert site.run(role()) == "provider_group"
    page.locator("#f-role").select_option("provider_group")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    page.get_by_label("Search").fill("nobody at all")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("heading", name="No chat matches these filters")).to_be_visible()
    page.get_by_role("link", name="Clear filters").click()
    expect(page.locator("table.list tbody tr")).to_have_count(3)
def test_an_agent_reads_but_cannot_change(page: Any, site: Site) -> None:
    ids = _seed_logs(site)
    sign_in(page, AGENT)
    nav(page, "Customer templates").click()
    page.get_by_role("link", name="help", exact=True).click()
    expect(page.get_by_label("Text customers get")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Save|Reset"))).to_have_count(0)
    expect(page.locator("#template-preview .bubble")).to_be_visible()
    nav(page, "Chats").click()
    expect(page.get_by_role("button", name="Change")).to_have_count(0)
    page.goto(f"/w/acme/outbox/{ids['dispatch']}")
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    # The server refuses what the page does not offer.
    status = page.evaluate("""async (id) => {
        const token = document.querySelector('input[name=csrf_token]').value;
        const body = new URLSearchParams({csrf_token: token});
        const answer = await fetch('/w/acme/outbox/' + id + '/retry', {method: 'POST', body});
        return answer.status;
    }""", ids["dispatch"])
    assert status == 403


def test_phone_width_of_the_log_pages(page: Any, site: Site) -> None:
    ids = _seed_logs(site)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, OWNER)
    for name, path in (("24-phone-message-log", "/w/acme/messages"),
                       ("25-phone-message-detail", f"/w/acme/messages/{ids['event3']}"),
                       ("26-phone-delivery-detail", f"/w/acme/outbox/{ids['dispatch']}"),
                       ("27-phone-chats", "/w/acme/chats"),
                       ("28-phone-template", "/w/acme/templates/help")):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
        screenshot(page, name)
