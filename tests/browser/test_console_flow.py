"""Issue #5's whole set-up in a real Chromium, from an EMPTY workspace to a passing test command,
against the simulators: connect and test the panel (Perfect Panel simulator), add a Telegram bot
(Telegram simulator), map a provider to its group, link a customer, run the customer's command in
the test console, and see every item of the setup checklist done. Each step is started from the
checklist's own "Do it" button, as a new owner would."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import func, select

from panelpilot.orders.models import Dispatch, OrderCooldown, OrderTestRun
from panelpilot.outbox.models import OutboundMessage
from panelpilot.sim.perfectpanel import PerfectPanelSim
from panelpilot.sim.telegram import Limits, TelegramSim
from tests.browser.conftest import OWNER, Site, sign_in
from tests.browser.conftest import screenshot as full_page

BOT_TOKEN = "5550001:AAFakeBotTokenForTheSimulator"
PROVIDER_GROUP = "-1001700700"
CUSTOMER = "555000111"


def screenshot(page: Any, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    full_page(page, name)


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Sections").get_by_role("link", name=name,
                                                                       exact=True)


def do_it(page: Any, step: str) -> None:
    """Start a step from the overview's checklist."""
    nav(page, "Overview").click()
    page.get_by_role("link", name=f"Do it — {step}").click()


def _count(site: Site, model: type) -> int:
    async def count() -> int:
        async with site.ctx.db.session(site.acme_id) as s:
            return int((await s.execute(select(func.count()).select_from(model))).scalar_one())
    return site.run(count())


def test_from_an_empty_workspace_to_a_passing_test_command(page: Any, site: Site) -> None:
    panel = PerfectPanelSim(rate_limit=None, seed=True)
    panel_url = site.serve(panel.app)
    telegram = TelegramSim(limits=Limits.off())
    site.ctx.settings.telegram_api_url = site.serve(telegram.app)
    telegram.add_bot(BOT_TOKEN, username="acme_help_bot")

    sign_in(page, OWNER)
    progress = page.locator(".progress-text")
    expect(progress).to_contain_text("0 of ")
    checklist = page.locator(".checklist")
    total = checklist.locator("li").count()
    expect(checklist.locator("li.todo")).to_have_count(total)

    # 1. The panel: its address and keys, then the real connection test.
    do_it(page, "Connect your panel")
    page.get_by_label("Panel type").select_option("perfectpanel")
    page.get_by_label("Panel address").fill(panel_url)
    page.get_by_label("Admin API key").fill(panel.admin_key)
    page.get_by_label("User API key (optional)").fill(panel.user_key)
    page.get_by_role("button", name="Save connection").click()
    expect(page.locator(".flash-success")).to_contain_text("Panel connection saved")
    page.get_by_role("button", name="Test connection").click()
    page.locator("#test-result").get_by_text(
        "The panel answered and every checked part works.").wait_for()
    nav(page, "Overview").click()
    expect(progress).to_contain_text(f"2 of {total} done")

    # 2. A channel: the Telegram bot, with its webhook set at the simulator.
    do_it(page, "Connect a channel")
    page.get_by_role("link", name="Add your first channel").click()
    page.get_by_role("link", name="Telegram bot").click()
    page.get_by_label("Name").fill("support-bot")
    page.get_by_label("Bot token").fill(BOT_TOKEN)
    page.get_by_role("radio", name="Webhook").check()
    page.get_by_role("button", name="Save and connect").click()
    expect(page.locator(".flash-success")).to_contain_text("Connected @acme_help_bot")

    # 3. A provider route: smmprovider.com's orders go to its group.
    do_it(page, "Map your providers")
    page.get_by_role("link", name="Add a route").first.click()
    page.get_by_label("Provider name").fill("smmprovider")
    page.get_by_label("Matches").fill("smmprovider.com")
    page.get_by_label("Channel", exact=True).select_option("support-bot")
    page.get_by_label("Chat id").fill(PROVIDER_GROUP)
    page.get_by_role("button", name="Add route").click()
    expect(page.locator(".flash-success")).to_contain_text("smmprovider")

    # 4. A linked user: the customer's chat and their panel username.
    do_it(page, "Link users")
    form = page.locator("#link-form")
    form.get_by_label("Channel").select_option("support-bot")
    form.get_by_label("Chat id").fill(CUSTOMER)
    form.get_by_label("Panel username").fill("john_doe")
    form.get_by_role("button", name="Link chat").click()
    expect(page.locator(".flash-success")).to_contain_text("Linked to john_doe")
    nav(page, "Linked users").click()
    expect(page.locator("table.linked-list tbody tr")).to_have_count(1)
    screenshot(page, "45-flow-linked-users")

    # 5. The test command, through the real pipeline: it passes.
    do_it(page, "Send a test command")
    page.get_by_label("Send as").select_option("john_doe")
    page.get_by_role("textbox", name="Command").fill("2274209 refill")
    page.get_by_role("button", name="Run test").click()
    result = page.locator("#result")
    expect(result.locator(".result-head")).to_contain_text(
        "Passed: refill for 1 of 1 order allowed; 1 command would go to smmprovider.")
    expect(result.locator(".testrun-command")).to_have_text("EXT-99812 refill")
    expect(result).to_contain_text(f"support-bot: {PROVIDER_GROUP}")
    screenshot(page, "46-flow-test-command-passed")
    # Nothing was sent or claimed: the customer's own request would still go through.
    assert _count(site, OutboundMessage) == 0 and _count(site, Dispatch) == 0
    assert _count(site, OrderCooldown) == 0 and _count(site, OrderTestRun) == 1
    assert telegram.sent(BOT_TOKEN) == []

    # 6. Every item of the checklist is done.
    nav(page, "Overview").click()
    expect(progress).to_contain_text(f"{total} of {total} done")
    expect(checklist.locator("li.done")).to_have_count(total)
    expect(page.get_by_text("Everything on the list is done.")).to_be_visible()
    expect(checklist).to_contain_text("“2274209 refill” passed")
    screenshot(page, "47-checklist-complete")
