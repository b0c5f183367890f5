"""Linked users and the test console in a real Chromium, over the Perfect Panel simulator: link a
chat that wrote to the bot, search and filter, a chat's page with its commands and history,
unlink after the confirmation, run a test command and read its checks, an agent who can only
read, and a phone-sized screen. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from panelpilot.chats.models import Chat
from panelpilot.orders.models import LinkedChat
from panelpilot.sim.perfectpanel import PerfectPanelSim
from panelpilot.workspaces.apply import apply_file
from tests.browser.conftest import AGENT, OWNER, Site, sign_in
from tests.browser.conftest import screenshot as full_page
from tests.console.logdata import add_chat
from tests.orders.helpers import JOHN, workspace_file


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Sections").get_by_role("link", name=name,
                                                                       exact=True)


def screenshot(page: Any, name: str) -> None:
    # From the top: a page opened at #result would draw the sticky header mid-page.
    page.evaluate("window.scrollTo(0, 0)")
    full_page(page, name)


def _shop(site: Site) -> PerfectPanelSim:
    """acme set up by its workspace file over a seeded panel simulator, with one more chat
    (a customer who wrote but is not linked)."""
    sim = PerfectPanelSim(rate_limit=None, seed=True)
    url = site.serve(sim.app)

    async def setup() -> None:
        from panelpilot.channels.models import ChannelAccount

        await apply_file(site.ctx, workspace_file(
            panel=("perfectpanel", url, sim.admin_key, sim.user_key)))
        async with site.ctx.db.session(site.acme_id) as s:
            tg = (await s.execute(select(ChannelAccount.id))).scalar_one()
        await add_chat(site.ctx, site.acme_id, tg, "555000444", title="Ali Yılmaz",
                       role="customer")

    site.run(setup())
    return sim


def _link_of(site: Site, chat_id: str) -> tuple[str, str] | None:
    async def read() -> tuple[str, str] | None:
        async with site.ctx.db.session(site.acme_id) as s:
            row = (await s.execute(select(LinkedChat.username, LinkedChat.source)
                                   .join(Chat, Chat.id == LinkedChat.chat_pk)
                                   .where(Chat.chat_id == chat_id))).first()
            return (row[0], row[1]) if row else None
    return site.run(read())


def test_link_search_and_unlink(page: Any, site: Site) -> None:
    _shop(site)
    sign_in(page, OWNER)
    nav(page, "Linked users").click()
    expect(page.get_by_role("heading", name="Linked users")).to_be_visible()
    rows = page.locator("table.linked-list tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("table.linked-list")).to_contain_text("managed by the workspace file")

    # A mistake is shown beside its field, and what was typed stays.
    page.get_by_label("Known chat").select_option(label="Ali Yılmaz (555000444) on tg")
    page.get_by_label("Panel username").fill("ali yilmaz")
    page.get_by_role("button", name="Link chat").click()
    expect(page.locator("#err-username")).to_have_text(
        "A panel username is 1-100 characters without spaces.")
    expect(page.get_by_label("Panel username")).to_have_value("ali yilmaz")
    page.get_by_label("Panel username").fill("ali_yilmaz")
    page.get_by_role("button", name="Link chat").click()
    expect(page.locator(".flash-success")).to_contain_text("Linked to ali_yilmaz")
    expect(page.get_by_role("heading", name="Ali Yılmaz")).to_be_visible()
    assert _link_of(site, "555000444") == ("ali_yilmaz", "api")

    nav(page, "Linked users").click()
    expect(rows).to_have_count(4)
    screenshot(page, "40-linked-users")
    page.get_by_label("Search").fill("ali")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    page.get_by_label("Source").select_option("file")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("heading", name="No linked chat matches these filters")).to_be_visible()
    page.get_by_role("link", name="Clear filters").click()
    expect(rows).to_have_count(4)

    # john_doe's chat: its last commands and history; unlinking asks first (accepted here).
    page.get_by_role("link", name="john_doe").click()
    expect(page.locator(".linked-managed")).to_contain_text("Made by the workspace file")
    expect(page.get_by_role("heading", name="Link history")).to_be_visible()
    screenshot(page, "41-linked-detail")
    questions: list[str] = []
    page.on("dialog", lambda dialog: questions.append(dialog.message))
    page.locator(".head-actions").get_by_role("button", name="Unlink").click()
    expect(page.locator(".flash-success")).to_contain_text("no longer linked to john_doe")
    assert questions and questions[0].startswith("Unlink ") and "john_doe" in questions[0]
    assert _link_of(site, str(JOHN)) is None
    expect(rows).to_have_count(3)


def test_test_console(page: Any, site: Site) -> None:
    _shop(site)
    sign_in(page, OWNER)
    nav(page, "Test console").click()
    expect(page.get_by_role("heading", name="Test console")).to_be_visible()
    expect(page.get_by_text("No test yet.")).to_be_visible()
    page.get_by_label("Send as").select_option("john_doe")
    page.get_by_role("textbox", name="Command").fill("2274209, 2274214 refil")
    page.get_by_role("button", name="Run test").click()
    result = page.locator("#result")
    expect(result).to_contain_text("“refil” was read as refill")
    expect(result.locator(".testrun-order")).to_have_count(2)
    first, second = result.locator(".testrun-order").nth(0), result.locator(".testrun-order").nth(1)
    expect(first.locator(".check-pass")).to_have_count(6)
    expect(second.locator(".check-fail")).to_contain_text("Allowed for this action")
    expect(second.locator(".check-skip")).to_have_count(3)
    expect(result.locator(".testrun-answer")).to_contain_text("2274209: refill request sent")
    expect(result.locator(".testrun-command")).to_have_text("EXT-99812 refill")
    expect(result.locator(".result-head")).to_contain_text("Passed: refill for 1 of 2 orders")
    screenshot(page, "42-test-console-result")

    page.get_by_label("Send as").select_option("__support__")
    page.get_by_role("textbox", name="Command").fill("2274220 cancel")
    page.get_by_role("button", name="Run test").click()
    expect(result.locator(".result-head")).to_contain_text("fallback support group")
    expect(page.locator("table.log tbody tr")).to_have_count(2)
    nav(page, "Overview").click()
    expect(page.locator(".checklist")).to_contain_text("“2274209, 2274214 refil” passed")


def test_an_agent_reads_linked_users_only(page: Any, site: Site) -> None:
    _shop(site)
    sign_in(page, AGENT)
    nav(page, "Linked users").click()
    expect(page.locator("table.linked-list tbody tr")).to_have_count(3)
    expect(page.get_by_role("button", name="Unlink")).to_have_count(0)
    expect(page.get_by_role("heading", name="Link a chat")).to_have_count(0)
    expect(nav(page, "Test console")).to_have_count(0)
    page.goto("/w/acme/test-console")
    expect(page.get_by_role("heading", name="Owners only")).to_be_visible()


def test_phone_width(page: Any, site: Site) -> None:
    _shop(site)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, OWNER)
    page.goto("/w/acme/test-console")
    page.get_by_label("Send as").select_option("john_doe")
    page.get_by_role("textbox", name="Command").fill("2274209 refill")
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#result .result-head")).to_contain_text("Passed")
    for name, path in (("43-phone-linked-users", "/w/acme/linked"),
                       ("44-phone-test-console", page.url)):
        page.goto(path)
        expect(page.get_by_role("navigation", name="Sections")).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
        screenshot(page, name)
