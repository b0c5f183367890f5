"""The setup pages in a real Chromium: editing a provider route with its live command preview
and seeing the change in the list, the order rules form, the service catalogue with a rule,
support chats and aliases, an agent who only reads, and a phone-sized screen. Screenshots go to
artifacts/screenshots/ (30-39)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from panelpilot.db.base import utcnow
from panelpilot.orders import admin
from panelpilot.orders.models import ProviderRoute, ServiceCache
from tests.browser.conftest import AGENT, OWNER, Site, screenshot, sign_in
from tests.console.logdata import add_channel, add_chat

SERVICES = [
    ("101", "Instagram Followers [Start: 0-1 Hour] [Refill: 30 Days] [10K/Day]", "Instagram"),
    ("102", "Instagram Likes | Instant | No Refill", "Instagram"),
    ("104", "YouTube Likes ♻️ 30D Refill ⏱ 0-12 Hrs", "YouTube"),
    ("105", "Instagram Takipçi [Başlama: 0-1 Saat] [30 Gün Telafi]", "Instagram 🇹🇷"),
    ("120", "Telegram Post Views [Super Fast]", "Telegram"),
    ("121", "Spotify Followers [Start: 0-24 Hours]", "Spotify"),
]


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Sections").get_by_role("link", name=name,
                                                                       exact=True)


def _seed(site: Site) -> dict[str, int]:
    async def seed() -> dict[str, int]:
        ctx, ws = site.ctx, site.acme_id
        tg = await add_channel(ctx, ws, key="support-bot")
        ids = {"tg": tg}
        ids["a"] = await add_chat(ctx, ws, tg, "-1001987654321", title="SMM Provider A",
                                  chat_type="supergroup")
        ids["b"] = await add_chat(ctx, ws, tg, "-1001222333444", title="Fast SMM group",
                                  chat_type="supergroup")
        ids["team"] = await add_chat(ctx, ws, tg, "-1001555666777", title="Acme support team",
                                     chat_type="supergroup")
        async with ctx.db.session(ws) as s:
            await admin.save_route(s, ws, admin.RouteIn(
                "smmprovider", ["smmprovider.com"], "support-bot", "-1001987654321", {}, True))
            await admin.save_route(s, ws, admin.RouteIn(
                "perfectsmm", ["Perfect Smm"], None, None, {"speed": "/speed {external_id}"},
                False))
            for sid, name, category in SERVICES:
                s.add(ServiceCache(workspace_id=ws, service_id=sid, name=name,
                                   category=category, refreshed_at=utcnow()))
            await admin.set_settings(s, ws, aliases={"yenile": "refill"})
        return ids
    return site.run(seed())


def _route(site: Site, name: str) -> ProviderRoute:
    async def read() -> ProviderRoute:
        async with site.ctx.db.session(site.acme_id) as s:
            return (await s.execute(select(ProviderRoute).where(ProviderRoute.name == name))
                    ).scalar_one()
    return site.run(read())


def test_edit_a_provider_route_and_see_the_change(page: Any, site: Site) -> None:
    ids = _seed(site)
    sign_in(page, OWNER)
    nav(page, "Provider routes").click()
    rows = page.locator("table.routes-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="smmprovider")).to_contain_text("SMM Provider A")
    expect(rows.filter(has_text="perfectsmm")).to_contain_text("No group")
    screenshot(page, "30-provider-routes")

    page.get_by_role("link", name="smmprovider").click()
    preview = page.locator("#route-preview")
    expect(preview).to_contain_text("EXT-99812, EXT-99813 refill")
    # The preview follows the typing without reloading the page.
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Refill", exact=True).fill("{external_id} refill please")
    expect(preview).to_contain_text("EXT-99812 refill please")
    page.get_by_label("Refill", exact=True).fill("{externl_id} refill")
    expect(preview).to_contain_text("{externl_id} is not a value")
    assert page.evaluate("window.__sameDocument") is True
    page.get_by_role("button", name="Save route").click()
    expect(page.locator("#err-command_refill")).to_contain_text("{externl_id} is not a value")
    expect(page.get_by_label("Refill", exact=True)).to_have_value("{externl_id} refill")

    page.get_by_label("Refill", exact=True).fill("{external_id} refill please")
    page.get_by_label("Send to").select_option(f"chat:{ids['b']}")
    expect(preview).to_contain_text("EXT-99812 refill please")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "31-provider-route-edit")
    page.get_by_role("button", name="Save route").click()
    expect(page.locator(".flash-success")).to_contain_text(
        "Route smmprovider saved: its orders go to -1001222333444.")
    row = page.locator("table.routes-table tbody tr").filter(has_text="smmprovider")
    expect(row).to_contain_text("Fast SMM group")
    expect(row).to_contain_text("{external_id} refill please")
    route = _route(site, "smmprovider")
    assert (route.chat_id, route.commands) == ("-1001222333444",
                                               {"refill": "{external_id} refill please"})


def test_rules_services_support_and_aliases(page: Any, site: Site) -> None:
    _seed(site)
    sign_in(page, OWNER)
    nav(page, "Order rules").click()
    expect(page.get_by_label("Most order ids in one message")).to_have_value("20")
    page.get_by_label("Speed (minutes)").fill("45")
    page.get_by_label("Most order ids in one message").fill("0")
    page.get_by_role("button", name="Save rules").click()
    expect(page.locator("#err-max_ids")).to_have_text("Enter 1 or more.")
    expect(page.get_by_label("Speed (minutes)")).to_have_value("45")
    page.get_by_label("Most order ids in one message").fill("10")
    page.get_by_text("When the order was created").click()
    page.get_by_role("button", name="Save rules").click()
    expect(page.locator(".flash-success")).to_contain_text("Order rules saved")
    expect(page.get_by_label("Speed (minutes)")).to_have_value("45")
    screenshot(page, "32-order-rules")

    nav(page, "Service rules").click()
    rows = page.locator("table.services-table tbody tr")
    expect(rows).to_have_count(len(SERVICES))
    page.get_by_label("Show").select_option("unknown_refill")
    page.get_by_role("button", name="Filter").click()
    expect(rows.filter(has_text="#120")).to_have_count(1)
    expect(rows.filter(has_text="#101")).to_have_count(0)
    screenshot(page, "33-service-rules")
    page.get_by_role("link", name="#120").click()
    page.get_by_label("Refill policy").fill("30")
    page.get_by_label("Start window").fill("0-2 hours")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator(".flash-success")).to_contain_text("Rule saved")
    expect(page.locator("main")).to_contain_text("30 days")
    screenshot(page, "34-service-rule")

    nav(page, "Support chats").click()
    page.get_by_label("Chat id").fill("-1001555666777")
    page.get_by_text("Fallback: send this chat").click()
    page.get_by_role("button", name="Add support chat").click()
    expect(page.locator(".flash-success")).to_contain_text(
        "Acme support team is now added as the fallback support chat.")
    screenshot(page, "35-support-chats")

    nav(page, "Aliases").click()
    page.get_by_label("Word or phrase").fill("ускорить заказ")
    page.get_by_label("Means").select_option("speed")
    page.get_by_role("button", name="Add alias").click()
    expect(page.locator(".flash-success")).to_contain_text("“ускорить заказ” now means speed.")
    expect(page.locator("table.aliases-table tbody tr")).to_have_count(2)
    screenshot(page, "36-aliases")


def test_agent_reads_setup_pages_and_phone_layout(page: Any, site: Site) -> None:
    _seed(site)
    sign_in(page, AGENT)
    nav(page, "Provider routes").click()
    expect(page.locator("table.routes-table tbody tr")).to_have_count(2)
    expect(page.get_by_role("link", name="Add a route")).to_have_count(0)
    page.get_by_role("link", name="smmprovider").click()
    expect(page.locator("#route-preview")).to_contain_text("EXT-99812 refill")
    expect(page.get_by_role("button", name="Save route")).to_have_count(0)
    expect(page.locator(".banner-info")).to_contain_text("read-only")
    page.set_viewport_size({"width": 390, "height": 844})
    nav(page, "Provider routes").click()
    expect(page.locator("table.routes-table tbody tr")).to_have_count(2)
    screenshot(page, "37-phone-provider-routes")
