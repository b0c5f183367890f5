"""The console in a real Chromium: sign-in, the panel connection tested against the Perfect Panel
simulator, adding a Telegram bot against the Telegram simulator, a failed CSRF check, an agent
who cannot change settings, the master admin, and a phone-sized screen. Screenshots of the main
pages go to artifacts/screenshots/."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import func, select

from panelpilot.channels.models import ChannelAccount
from panelpilot.panels.connection import PanelConnection
from panelpilot.sim.perfectpanel import PerfectPanelSim
from panelpilot.sim.telegram import Limits, TelegramSim
from panelpilot.tenancy.models import Workspace
from tests.browser.conftest import AGENT, OWNER, ROOT, Site, screenshot, sign_in

BOT_TOKEN = "5550001:AAFakeBotTokenForTheSimulator"


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Sections").get_by_role("link", name=name,
                                                                       exact=True)


def _panel(site: Site) -> PanelConnection | None:
    async def read() -> PanelConnection | None:
        async with site.ctx.db.session(site.acme_id) as s:
            return (await s.execute(select(PanelConnection))).scalar()
    return site.run(read())


def _channel_count(site: Site) -> int:
    async def count() -> int:
        async with site.ctx.db.session(site.acme_id) as s:
            return int((await s.execute(select(func.count()).select_from(ChannelAccount))
                        ).scalar_one())
    return site.run(count())


def test_sign_in(page: Any, site: Site) -> None:
    page.goto("/w/acme")
    assert "/login?next=/w/acme" in page.url
    screenshot(page, "01-sign-in")
    page.get_by_label("Email").fill(OWNER)
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The email address or the password is not right.")
    expect(page.get_by_label("Email")).to_have_value(OWNER)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/w/acme")
    expect(page.get_by_role("heading", name="Setup checklist")).to_be_visible()
    expect(page.locator(".progress-text")).to_contain_text("0 of ")
    screenshot(page, "02-overview-empty")
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{site.url}/login")
    expect(page.locator(".flash")).to_contain_text("You are signed out.")


def test_panel_connection_against_the_simulator(page: Any, site: Site) -> None:
    sim = PerfectPanelSim(rate_limit=None, seed=True)
    sim_url = site.serve(sim.app)
    sign_in(page, OWNER)
    page.get_by_role("link", name="Do it — Connect your panel").click()
    page.wait_for_url(f"{site.url}/w/acme/panel")
    page.get_by_label("Panel type").select_option("perfectpanel")
    page.get_by_label("Panel address").fill(sim_url)
    page.get_by_label("Admin API key").fill("pp_admin_this_is_not_the_key")
    page.get_by_role("button", name="Save connection").click()
    expect(page.locator(".flash-success")).to_contain_text("Panel connection saved")
    expect(page.locator(".stored code").first).to_have_text(re.compile("^••••"))

    # The result replaces the old one in place: the page is not reloaded.
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    result.get_by_text("The panel test found problems.").wait_for()
    expect(result).to_contain_text("The Admin API key was rejected")
    assert page.evaluate("window.__sameDocument") is True
    conn = _panel(site)
    assert conn is not None and conn.last_test_ok is False

    page.get_by_label("Admin API key").fill(sim.admin_key)
    page.get_by_label("User API key (optional)").fill(sim.user_key)
    page.get_by_role("button", name="Save changes").click()
    page.get_by_role("button", name="Test connection").click()
    result.get_by_text("The panel answered and every checked part works.").wait_for()
    expect(result.locator(".badge-ok")).to_have_count(5)
    assert sim.admin_key not in page.content()
    conn = _panel(site)
    assert conn is not None and conn.last_test_ok is True
    screenshot(page, "03-panel-connection-tested")
    nav(page, "Overview").click()
    expect(page.locator(".progress-text")).to_contain_text("2 of ")


def test_add_a_telegram_bot(page: Any, site: Site) -> None:
    telegram = TelegramSim(limits=Limits.off())
    site.ctx.settings.telegram_api_url = site.serve(telegram.app)
    telegram.add_bot(BOT_TOKEN, username="acme_help_bot")
    sign_in(page, OWNER)
    nav(page, "Channels").click()
    expect(page.get_by_role("heading", name="No channel yet")).to_be_visible()
    page.get_by_role("link", name="Add your first channel").click()
    page.get_by_role("link", name=re.compile("Telegram bot")).click()
    page.get_by_label("Name").fill("support-bot")
    page.get_by_label("Bot token").fill(BOT_TOKEN)
    page.get_by_role("radio", name=re.compile("^Webhook")).check()
    page.get_by_role("button", name="Save and connect").click()
    page.wait_for_url(f"{site.url}/w/acme/channels/support-bot")
    expect(page.locator(".flash-success")).to_contain_text("Connected @acme_help_bot")
    expect(page.locator(".badge-active").first).to_be_visible()
    webhook = page.locator("#webhook-url").inner_text()
    assert webhook.startswith(f"{site.url}/hooks/telegram/")
    assert BOT_TOKEN not in page.content()
    assert telegram.webhook_info(BOT_TOKEN)["url"] == webhook  # the simulator was told
    screenshot(page, "04-channel-detail")
    nav(page, "Channels").click()
    expect(page.get_by_text("@acme_help_bot")).to_be_visible()
    screenshot(page, "05-channels")

    page.get_by_role("link", name="support-bot").click()
    page.get_by_role("button", name="Turn off").click()  # confirm() is accepted by the harness
    expect(page.locator(".badge-disabled").first).to_be_visible()
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator(".flash-success")).to_contain_text("Connected @acme_help_bot")
    nav(page, "Overview").click()
    expect(page.locator(".checklist")).to_contain_text("support-bot connected")


def test_a_failed_csrf_check_changes_nothing(page: Any, site: Site) -> None:
    sign_in(page, OWNER)
    page.goto("/w/acme/panel")
    page.get_by_label("Panel address").fill("https://panel.example")
    page.get_by_label("Admin API key").fill("pp_admin_0123456789abcdef")
    # What a stale or forged form looks like to the server.
    page.evaluate("document.querySelectorAll('input[name=csrf_token]')"
                  ".forEach(function (i) { i.value = 'forged'; })")
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_role("heading", name="The form could not be accepted")).to_be_visible()
    expect(page.locator(".error-page")).to_contain_text("nothing was changed")
    screenshot(page, "06-csrf-refused")
    assert _panel(site) is None
    # A fresh page works again.
    page.goto("/w/acme/panel")
    page.get_by_label("Panel address").fill("https://panel.example")
    page.get_by_label("Admin API key").fill("pp_admin_0123456789abcdef")
    page.get_by_role("button", name="Save connection").click()
    expect(page.locator(".flash-success")).to_be_visible()
    assert _panel(site) is not None


def test_an_agent_cannot_change_settings(page: Any, site: Site) -> None:
    sign_in(page, AGENT)
    page.goto("/w/acme/panel")
    expect(page.locator(".banner")).to_contain_text("read-only access")
    expect(page.get_by_role("button", name="Save connection")).to_have_count(0)
    expect(nav(page, "API tokens")).to_have_count(0)
    screenshot(page, "07-agent-read-only")
    nav(page, "Channels").click()
    expect(page.get_by_role("link", name=re.compile("Add"))).to_have_count(0)
    # Even a hand-made request with the agent's own valid token is refused by the server.
    status = page.evaluate("""async () => {
        const token = document.querySelector('input[name=csrf_token]').value;
        const body = new URLSearchParams({csrf_token: token, type: 'perfectpanel',
            url: 'https://evil.example', api_key: 'pp_admin_stolen_0123456789'});
        const answer = await fetch('/w/acme/panel', {method: 'POST', body: body});
        return answer.status;
    }""")
    assert status == 403
    page.goto("/w/acme/tokens")
    expect(page.get_by_role("heading", name="Owners only")).to_be_visible()
    assert _panel(site) is None and _channel_count(site) == 0


def test_team_pages(page: Any, site: Site) -> None:
    sign_in(page, OWNER)
    nav(page, "Members").click()
    page.get_by_label("Email").fill("new.agent@acme.test")
    page.get_by_label("First password").fill("another good passphrase")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator(".flash")).to_contain_text("new.agent@acme.test was added as agent")
    screenshot(page, "08-members")
    nav(page, "API tokens").click()
    page.get_by_label("Name").fill("CRM sync")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("pp_")
    screenshot(page, "09-token-created")
    page.reload()  # the token is never shown again
    expect(token not in page.content() and page.get_by_text("CRM sync")).to_be_visible()
def test_master_admin(page: Any, site: Site) -> None:
    sign_in(page, ROOT)
    assert page.url == f"{site.url}/admin"
    page.locator("#new-workspace #f-name").fill("Beta Followers")
    page.get_by_label("Slug").fill("beta")
    page.get_by_label("Plan (optional)").fill("starter")
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url(f"{site.url}/admin/workspaces/beta")
    expect(page.locator(".flash")).to_contain_text("Workspace beta was created")
    page.get_by_role("button", name="Suspend").click()
    expect(page.locator(".badge-suspended").first).to_be_visible()
    nav(page, "Workspaces").click()
    screenshot(page, "10-admin-workspaces")
    nav(page, "Users").click()
    screenshot(page, "11-admin-users")
    nav(page, "Runners").click()
    expect(page.get_by_role("heading", name="Runners")).to_be_visible()
    screenshot(page, "12-admin-runners")

    async def status() -> str:
        async with site.ctx.db.platform_session() as s:
            return str((await s.execute(select(Workspace.status).where(Workspace.slug == "beta"))
                        ).scalar_one())

    assert site.run(status()) == "suspended"
    # The switcher opens any workspace's console.
    page.locator(".switcher summary").click()
    page.locator(".switcher").get_by_role("link", name=re.compile("Acme SMM")).click()
    page.wait_for_url(f"{site.url}/w/acme")


def test_phone_width(page: Any, site: Site) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, OWNER)
    for name, path in (("13-phone-overview", "/w/acme"), ("14-phone-members", "/w/acme/members"),
                       ("15-phone-panel", "/w/acme/panel")):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
        expect(page.get_by_role("navigation", name="Sections")).to_be_visible()
        screenshot(page, name)
