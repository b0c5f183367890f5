"""Channels: add, see the real set-up result, edit, turn off and on, remove."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from panelpilot.channels.models import ChannelAccount
from panelpilot.context import Context
from panelpilot.sim.server import LoopbackServer
from panelpilot.sim.telegram import Limits, TelegramSim
from panelpilot.vault.store import reveal
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, field_errors, flashes, post
from tests.support import Tenants

TOKEN = "123456:AAbbCCddEEff"


@pytest.fixture
async def telegram(ctx: Context) -> AsyncIterator[TelegramSim]:
    sim = TelegramSim(limits=Limits.off())
    async with LoopbackServer(sim.app) as server:
        sim.add_bot(TOKEN, username="acme_support_bot")
        ctx.settings.telegram_api_url = server.url
        yield sim


async def _channel(ctx: Context, workspace_id: int, key: str) -> ChannelAccount | None:
    async with ctx.db.session(workspace_id) as s:
        return (await s.execute(select(ChannelAccount).where(ChannelAccount.key == key))
                ).scalar()


async def test_empty_state_says_what_to_do(clients: ClientFactory, tenants: Tenants) -> None:
    r = await (await clients(OWNER)).get("/w/acme/channels")
    assert "No channel yet" in r.text and 'href="/w/acme/channels/new"' in r.text
    kinds = await (await clients(OWNER)).get("/w/acme/channels/new")
    for label in ("Telegram bot", "WhatsApp via Green API", "WhatsApp Cloud API (Meta)"):
        assert label in kinds.text
    agent = await (await clients(AGENT)).get("/w/acme/channels")
    assert "An owner of this workspace adds" in agent.text


async def test_add_telegram_bot_sets_its_webhook(
    ctx: Context, clients: ClientFactory, tenants: Tenants, telegram: TelegramSim
) -> None:
    owner = await clients(OWNER)
    form = await owner.get("/w/acme/channels/new?type=telegram")
    assert 'value="telegram"' in form.text  # a name is suggested
    r = await post(owner, "/w/acme/channels", {"type": "telegram", "key": "support",
                                               "mode": "webhook", "token": TOKEN}, follow=True)
    assert ("success", "Connected @acme_support_bot: Telegram now delivers its messages here.") \
        in flashes(r.text)
    ch = await _channel(ctx, tenants.acme_id, "support")
    assert ch is not None and ch.status == "active" and ch.webhook_set_at is not None
    assert f"/hooks/telegram/{ch.public_id}" in r.text  # the webhook URL is on the page
    assert TOKEN not in r.text and "••••" in r.text
    assert telegram.bot_calls(TOKEN)["setWebhook"] == 1
    listing = await owner.get("/w/acme/channels")
    assert "support" in listing.text and "@acme_support_bot" in listing.text
    assert "badge-active" in listing.text
    assert "3 of 3" not in (await owner.get("/w/acme")).text  # panel steps still open
    overview = await owner.get("/w/acme")
    assert "support connected" in overview.text


async def test_failed_set_up_is_shown_with_its_detail(
    ctx: Context, clients: ClientFactory, tenants: Tenants, telegram: TelegramSim
) -> None:
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/channels", {"type": "telegram", "key": "bad",
                                               "mode": "polling", "token": "999:unknownbot"},
                   follow=True)
    kind, message = flashes(r.text)[0]
    assert kind == "error" and message.startswith("Saved, but the set-up failed")
    ch = await _channel(ctx, tenants.acme_id, "bad")
    assert ch is not None and ch.status == "problem" and ch.status_detail
    assert ch.status_detail in r.text.replace("&#39;", "'")
    assert "badge-problem" in r.text


async def test_add_form_errors(
    ctx: Context, clients: ClientFactory, tenants: Tenants, telegram: TelegramSim
) -> None:
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/channels", {"type": "telegram", "key": "Bad Name!",
                                               "token": TOKEN})
    assert r.status_code == 422 and "key" in field_errors(r.text)
    assert TOKEN not in r.text
    r = await post(owner, "/w/acme/channels", {"type": "telegram", "key": "tg"})
    assert field_errors(r.text) == {"token": "Token is required for a telegram channel."}
    r = await post(owner, "/w/acme/channels", {"type": "meta", "key": "cloud",
                                               "mode": "polling", "access_token": "x" * 20,
                                               "app_secret": "y" * 20,
                                               "phone_number_id": "1234"})
    assert field_errors(r.text) == {
        "mode": "Meta Cloud API has no polling: use mode webhook."}
    await post(owner, "/w/acme/channels", {"type": "telegram", "key": "tg", "token": TOKEN})
    r = await post(owner, "/w/acme/channels", {"type": "telegram", "key": "tg", "token": TOKEN})
    assert field_errors(r.text) == {"key": "You already have a channel named tg: pick another "
                                           "name."}
    async with ctx.db.session(tenants.acme_id) as s:
        assert len((await s.execute(select(ChannelAccount))).scalars().all()) == 1


async def test_edit_switches_mode_and_replaces_the_token(
    ctx: Context, clients: ClientFactory, tenants: Tenants, telegram: TelegramSim
) -> None:
    owner = await clients(OWNER)
    await post(owner, "/w/acme/channels", {"type": "telegram", "key": "tg", "mode": "webhook",
                                           "token": TOKEN})
    r = await post(owner, "/w/acme/channels/tg", {"mode": "polling", "token": ""}, follow=True)
    assert flashes(r.text)[0] == (
        "success", "Connected @acme_support_bot: panelpilot polls Telegram for its messages.")
    ch = await _channel(ctx, tenants.acme_id, "tg")
    assert ch is not None and ch.mode == "polling" and reveal(ctx.keyring, ch.token) == TOKEN
    assert telegram.bot_calls(TOKEN)["deleteWebhook"] >= 1
    r = await post(owner, "/w/acme/channels/tg", {"mode": "polling"}, follow=True)
    assert ("info", "Nothing changed.") in flashes(r.text)
    other = "654321:ZZyyXXwwVV"
    telegram.add_bot(other, username="acme_new_bot")
    r = await post(owner, "/w/acme/channels/tg", {"mode": "polling", "token": other},
                   follow=True)
    assert "@acme_new_bot" in flashes(r.text)[0][1]
    ch = await _channel(ctx, tenants.acme_id, "tg")
    assert ch is not None and reveal(ctx.keyring, ch.token) == other


async def test_turn_off_and_on(
    ctx: Context, clients: ClientFactory, tenants: Tenants, telegram: TelegramSim
) -> None:
    owner = await clients(OWNER)
    await post(owner, "/w/acme/channels", {"type": "telegram", "key": "tg", "token": TOKEN})
    r = await post(owner, "/w/acme/channels/tg/disable", follow=True)
    assert flashes(r.text)[0][0] == "success" and "Turn on" in r.text
    ch = await _channel(ctx, tenants.acme_id, "tg")
    assert ch is not None and ch.status == "disabled"
    r = await post(owner, "/w/acme/channels/tg/connect", follow=True)
    assert ("info", "The channel is turned off: turn it on to connect it.") in flashes(r.text)
    calls = telegram.bot_calls(TOKEN)["setWebhook"]
    r = await post(owner, "/w/acme/channels/tg/enable", follow=True)
    assert flashes(r.text)[0][0] == "success"
    ch = await _channel(ctx, tenants.acme_id, "tg")
    assert ch is not None and ch.status == "active"
    assert telegram.bot_calls(TOKEN)["setWebhook"] == calls + 1
    r = await post(owner, "/w/acme/channels/tg/connect", follow=True)
    assert flashes(r.text)[0][0] == "success"


async def test_remove_channel(
    ctx: Context, clients: ClientFactory, tenants: Tenants, telegram: TelegramSim
) -> None:
    owner = await clients(OWNER)
    await post(owner, "/w/acme/channels", {"type": "telegram", "key": "tg", "token": TOKEN})
    assert telegram.webhook_info(TOKEN)["url"]
    r = await post(owner, "/w/acme/channels/tg/delete", follow=True)
    assert ("success", "Channel tg and its credentials were removed. "
                       "(channel tg: webhook removed)") in flashes(r.text)
    assert telegram.webhook_info(TOKEN)["url"] == ""
    assert await _channel(ctx, tenants.acme_id, "tg") is None
    assert (await owner.get("/w/acme/channels/tg")).status_code == 404


async def test_meta_channel_shows_callback_url_and_verify_token_to_owners(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    form = await owner.get("/w/acme/channels/new?type=meta")
    assert 'name="verify_token"' in form.text and 'name="mode" value="webhook"' in form.text
    r = await post(owner, "/w/acme/channels", {
        "type": "meta", "key": "cloud", "mode": "webhook", "phone_number_id": "1098765",
        "access_token": "EAAG-access-token-1234", "app_secret": "app-secret-abcd-5678",
        "verify_token": "my-verify-token-42"}, follow=True)
    assert flashes(r.text)[0][0] == "success"
    assert "my-verify-token-42" in r.text and "Callback URL" in r.text
    assert "EAAG-access-token" not in r.text and "app-secret-abcd" not in r.text
    assert "••••1234" in r.text and "••••5678" in r.text
    agent = await (await clients(AGENT)).get("/w/acme/channels/cloud")
    assert "my-verify-token-42" not in agent.text and "••••n-42" in agent.text


async def test_green_api_needs_its_instance_id(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/channels", {"type": "greenapi", "key": "wa",
                                               "mode": "webhook", "api_token": "t" * 30})
    assert field_errors(r.text) == {
        "id_instance": "Id_instance is required for a greenapi channel."}
    r = await post(owner, "/w/acme/channels", {"type": "greenapi", "key": "wa",
                                               "mode": "webhook", "api_token": "t" * 30,
                                               "id_instance": "1101000001"}, follow=True)
    # The Green API address in these tests is a closed port: the failure is shown, not hidden.
    assert flashes(r.text)[0][0] == "error"
    ch = await _channel(ctx, tenants.acme_id, "wa")
    assert ch is not None and ch.status == "problem" and ch.config["id_instance"] == "1101000001"
    r = await post(owner, "/w/acme/channels/wa", {"mode": "webhook", "id_instance": ""})
    assert r.status_code == 422 and "id_instance" in field_errors(r.text)
