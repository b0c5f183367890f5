"""Analytics and the master admin's default templates in a real Chromium: the figures, the SVG
charts, the period switch, alerts with their links, the failed-commands filter, an agent who
can read it all, a phone-sized screen, and editing a default template with its live preview
that a workspace created afterwards starts with. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from panelpilot.db.base import utcnow
from panelpilot.templates.models import Template
from panelpilot.tenancy.models import Workspace
from tests.browser.conftest import AGENT, OWNER, ROOT, Site, screenshot, sign_in
from tests.orders.test_analytics import seed_alerts, seed_log

HELP = "Hello from the platform! Send your order ID and what you need, e.g. 2274209 refill."


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Sections").get_by_role("link", name=name,
                                                                       exact=True)


def _seed(site: Site) -> None:
    async def seed() -> None:
        now = utcnow()
        channel_id = await seed_log(site.ctx, site.acme_id, now)
        await seed_alerts(site.ctx, site.acme_id, now, channel_id)
    site.run(seed())


def test_analytics_page_with_data(page: Any, site: Site) -> None:
    _seed(site)
    sign_in(page, OWNER)
    nav(page, "Analytics").click()
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    figures = page.get_by_role("list", name="Key figures")
    expect(figures).to_contain_text("Commands today")
    expect(figures).to_contain_text("Failure rate")
    expect(figures).to_contain_text("95th percentile")
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(4)
    expect(page.get_by_role("img", name="Commands by action over the last 30 days")
           ).to_be_visible()
    expect(page.get_by_role("img", name="Dispatches per provider over the last 30 days")
           ).to_be_visible()
    alerts = page.locator("table.alerts tbody tr")
    expect(alerts).to_have_count(3)
    expect(page.locator("table.alerts")).to_contain_text("Asked about 6 orders it does not own")
    failed = page.locator("table.failed")
    expect(failed).to_contain_text("refil 2274209")  # the most frequent first
    screenshot(page, "60-analytics")
    # 21 different failed texts: the top 20 first, the rest one click away.
    expect(failed.locator("tbody tr")).to_have_count(20)
    page.get_by_role("link", name="Show up to 200").click()
    expect(page.locator("table.failed tbody tr")).to_have_count(21)
    expect(page.locator("table.failed")).to_contain_text("hello there")

    # The period switch and the failed-commands filter keep each other.
    page.get_by_role("navigation", name="Period").get_by_role("link", name="Last 7 days").click()
    expect(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "page")
    page.get_by_label("Error type").select_option("typo")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.failed")).to_contain_text("refil 2274209")
    expect(page.locator("table.failed")).not_to_contain_text("hello there")
    expect(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "page")

    # An alert leads to the chat it is about.
    page.locator("table.alerts tr", has_text="Probe Person").get_by_role(
        "link", name="Chat").click()
    expect(page.get_by_role("heading", name="Chats")).to_be_visible()
    expect(page.locator("table.list")).to_contain_text("Probe Person")


def test_agents_read_analytics_on_a_phone(page: Any, site: Site) -> None:
    _seed(site)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, AGENT)
    page.goto("/w/acme/analytics")
    expect(page.locator(".banner-info")).to_contain_text("read-only")
    expect(page.locator("svg.chart")).to_have_count(4)
    expect(page.locator("table.alerts")).to_contain_text("Hit cooldowns 10 times")
    expect(page.locator("form[method=post]")).to_have_count(1)  # only "Sign out"
    screenshot(page, "61-analytics-phone")


def _help_of(site: Site, slug: str) -> str | None:
    async def read() -> str | None:
        async with site.ctx.db.platform_session() as s:
            ws = (await s.execute(select(Workspace).where(Workspace.slug == slug))).scalar_one()
        async with site.ctx.db.session(ws.id) as s:
            return (await s.execute(select(Template.text).where(Template.key == "help"))
                    ).scalar()
    return site.run(read())


def test_default_templates_reach_new_workspaces(page: Any, site: Site) -> None:
    sign_in(page, ROOT)
    page.goto("/admin")
    nav(page, "Default templates").click()
    expect(page.get_by_role("heading", name="Default templates")).to_be_visible()
    expect(page.locator(".defaults-note")).to_contain_text("Existing workspaces are not changed")
    page.get_by_role("link", name="help", exact=True).click()
    preview = page.locator("#template-preview")
    expect(preview).to_contain_text("Send your order ID")

    page.evaluate("window.__sameDocument = true")
    text = page.get_by_label("Text customers of new workspaces get")
    text.fill(HELP + " {nickname}")
    preview.locator("mark.unknown", has_text="{nickname}").wait_for()
    expect(preview).to_contain_text("Hello from the platform!")
    assert page.evaluate("window.__sameDocument") is True

    text.fill("")
    page.get_by_role("button", name="Save wording").click()
    expect(page.locator("#err-text")).to_have_text("A template can not be empty.")
    text.fill(HELP)
    page.get_by_role("button", name="Save wording").click()
    expect(page.locator(".flash-success")).to_contain_text("workspaces created from now on")
    expect(page.locator(".badge-platform-wording").first).to_be_visible()
    screenshot(page, "62-default-template")
    page.get_by_role("link", name="Default templates").first.click()
    expect(page.locator("table.list")).to_contain_text("platform wording")
    screenshot(page, "63-default-templates")

    # A workspace created now starts with it; acme, created before, does not.
    page.goto("/admin")
    page.locator("#f-name").fill("Fresh Panel")  # (the first owner has a "Name" too)
    page.get_by_label("Slug").fill("fresh")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.locator(".flash-success")).to_contain_text("fresh")
    assert _help_of(site, "fresh") == HELP
    assert _help_of(site, "acme") is None
    page.goto("/w/fresh/templates/help")
    expect(page.get_by_label("Text customers get")).to_have_value(HELP)
