"""Support chats and aliases in the console: add, change, remove, errors beside fields, the
agent's read-only view, and parity with the JSON API."""

from __future__ import annotations

from sqlalchemy import select

from panelpilot.chats.models import Chat
from panelpilot.context import Context
from panelpilot.orders import admin, linking
from panelpilot.orders.models import SupportChat
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, field_errors, flashes, post
from tests.console.logdata import add_channel, add_chat
from tests.support import Tenants


async def _support(ctx: Context, workspace_id: int) -> list[tuple[str, bool]]:
    async with ctx.db.read_session(workspace_id) as s:
        rows = await s.execute(select(Chat.chat_id, SupportChat.fallback)
                               .join(SupportChat, SupportChat.chat_pk == Chat.id)
                               .order_by(SupportChat.id))
        return [(c, f) for c, f in rows.all()]


async def _aliases(ctx: Context, workspace_id: int) -> dict[str, str]:
    async with ctx.db.read_session(workspace_id) as s:
        return (await admin.get_settings(s))[1]


# --- support chats ---------------------------------------------------------------------------


async def test_support_chats_add_fallback_remove(ctx: Context, clients: ClientFactory,
                                                 tenants: Tenants) -> None:
    tg = await add_channel(ctx, tenants.acme_id, key="tg")
    team = await add_chat(ctx, tenants.acme_id, tg, "-100900", title="Acme team",
                          chat_type="supergroup")
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/support")
    assert "No support chats yet" in r.text
    assert '<option value="-100900">Acme team</option>' in r.text  # offered while typing
    r = await post(owner, "/w/acme/support", {"channel": "tg", "chat": "-100900"}, follow=True)
    assert ("success", "Acme team is now added as a support chat.") in flashes(r.text)
    assert "Make fallback" in r.text and "No fallback chat" in r.text
    r = await post(owner, "/w/acme/support", {"channel": "tg", "chat": "-100901",
                                              "fallback": "1"}, follow=True)
    assert ("success", "-100901 is now added as the fallback support chat.") in flashes(r.text)
    assert await _support(ctx, tenants.acme_id) == [("-100900", False), ("-100901", True)]
    # the "Make fallback" button posts the same form again
    r = await post(owner, "/w/acme/support", {"channel": "tg", "chat": "-100900",
                                              "fallback": "1"}, follow=True)
    assert ("success", "Acme team is now the fallback support chat.") in flashes(r.text)
    assert await _support(ctx, tenants.acme_id) == [("-100900", True), ("-100901", False)]
    async with ctx.db.read_session(tenants.acme_id) as s:
        support_id = (await s.execute(select(SupportChat.id).where(
            SupportChat.chat_pk == team))).scalar_one()
        role = (await s.execute(select(Chat.role).where(Chat.id == team))).scalar_one()
    assert role == "support"
    r = await post(owner, f"/w/acme/support/{support_id}/remove", follow=True)
    assert flashes(r.text)[0][1].startswith("Acme team is no longer a support chat")
    assert await _support(ctx, tenants.acme_id) == [("-100901", False)]
    r = await post(owner, f"/w/acme/support/{support_id}/remove")
    assert r.status_code == 404


async def test_support_chat_errors_and_linked_chat(ctx: Context, clients: ClientFactory,
                                                   tenants: Tenants) -> None:
    tg = await add_channel(ctx, tenants.acme_id, key="tg")
    jane = await add_chat(ctx, tenants.acme_id, tg, "5512345", title="Jane Buyer")
    await add_chat(ctx, tenants.acme_id, tg, "-100700", role="provider_group")
    async with ctx.db.session(tenants.acme_id) as s:
        chat = (await s.execute(select(Chat).where(Chat.id == jane))).scalar_one()
        await linking.link(s, tenants.acme_id, chat, "jane", source="api")
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/support", {"channel": "", "chat": ""})
    assert r.status_code == 422 and set(field_errors(r.text)) == {"channel", "chat"}
    r = await post(owner, "/w/acme/support", {"channel": "nope", "chat": "-1"})
    assert r.status_code == 422
    assert field_errors(r.text) == {"channel": "No channel 'nope' in this workspace."}
    r = await post(owner, "/w/acme/support", {"channel": "tg", "chat": "-100700"})
    assert r.status_code == 422 and "provider group" in field_errors(r.text)["chat"]
    assert 'value="-100700"' in r.text
    r = await post(owner, "/w/acme/support", {"channel": "tg", "chat": "5512345"}, follow=True)
    assert ("success", "Jane Buyer is now added as a support chat. Its link to the customer "
                       "jane was removed.") in flashes(r.text)


async def test_support_agent_and_api(ctx: Context, clients: ClientFactory,
                                     tenants: Tenants) -> None:
    await add_channel(ctx, tenants.acme_id, key="tg")
    api = await clients()
    r = await api.post("/api/v1/workspaces/acme/orders/support-chats",
                       headers=Tenants.auth(tenants.owner),
                       json={"channel": "tg", "chat": "-100900", "fallback": True})
    assert r.status_code == 201
    agent = await clients(AGENT)
    page = await agent.get("/w/acme/support")
    assert "-100900" in page.text and "fallback" in page.text
    assert 'method="post" action="/w/acme/support' not in page.text
    assert (await post(agent, "/w/acme/support", {"channel": "tg", "chat": "-1"})
            ).status_code == 403
    owner = await clients(OWNER)
    async with ctx.db.read_session(tenants.acme_id) as s:
        support_id = (await s.execute(select(SupportChat.id))).scalar_one()
    await post(owner, f"/w/acme/support/{support_id}/remove")
    r = await api.get("/api/v1/workspaces/acme/orders/support-chats",
                      headers=Tenants.auth(tenants.owner))
    assert r.json() == []


# --- aliases ---------------------------------------------------------------------------------


async def test_aliases_add_change_remove(ctx: Context, clients: ClientFactory,
                                         tenants: Tenants) -> None:
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/aliases")
    assert r.status_code == 200 and "None yet." in r.text
    assert "восстановить" in r.text and "telafi" in r.text  # the built-in words
    r = await post(owner, "/w/acme/aliases", {"word": "yenile", "target": "refill"},
                   follow=True)
    assert ("success", "“yenile” now means refill.") in flashes(r.text)
    r = await post(owner, "/w/acme/aliases", {"word": "Yenile", "target": "speed"},
                   follow=True)
    assert ("success", "“Yenile” now means speed (it meant refill).") in flashes(r.text)
    r = await post(owner, "/w/acme/aliases", {"word": "check", "target": "balance"},
                   follow=True)
    assert ("success", "“check” now means balance. It replaces the built-in meaning "
                       "(status) in this workspace.") in flashes(r.text)
    assert await _aliases(ctx, tenants.acme_id) == {"Yenile": "speed", "check": "balance"}
    r = await post(owner, "/w/acme/aliases/remove", {"word": "check"}, follow=True)
    assert ("success", "“check” is no longer one of your aliases.") in flashes(r.text)
    r = await post(owner, "/w/acme/aliases/remove", {"word": "check"}, follow=True)
    assert flashes(r.text)[0][0] == "info"
    assert await _aliases(ctx, tenants.acme_id) == {"Yenile": "speed"}


async def test_alias_errors_beside_fields(ctx: Context, clients: ClientFactory,
                                          tenants: Tenants) -> None:
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/aliases", {"word": "", "target": ""})
    assert r.status_code == 422 and set(field_errors(r.text)) == {"word", "target"}
    r = await post(owner, "/w/acme/aliases", {"word": "x" * 61, "target": "refill"})
    assert field_errors(r.text) == {"word": "Keep it to 60 characters or fewer."}
    r = await post(owner, "/w/acme/aliases", {"word": "boom", "target": "explode"})
    assert r.status_code == 422
    assert field_errors(r.text)["target"].startswith("The command is one of")
    assert 'value="boom"' in r.text
    assert await _aliases(ctx, tenants.acme_id) == {}


async def test_aliases_agent_and_api(ctx: Context, clients: ClientFactory,
                                     tenants: Tenants) -> None:
    api = await clients()
    base = "/api/v1/workspaces/acme/orders/aliases"
    r = await api.put(f"{base}/percepat%20dong", headers=Tenants.auth(tenants.owner),
                      json={"command": "speed"})
    assert r.status_code == 200 and r.json()["aliases"] == {"percepat dong": "speed"}
    assert "telafi" in r.json()["builtin"]["refill"]
    r = await api.put(f"{base}/x", headers=Tenants.auth(tenants.owner),
                      json={"command": "nope"})
    assert r.status_code == 422
    r = await api.put(f"{base}/x", headers=Tenants.auth(tenants.agent),
                      json={"command": "refill"})
    assert r.status_code == 403
    agent = await clients(AGENT)
    page = await agent.get("/w/acme/aliases")
    assert "percepat dong" in page.text and 'action="/w/acme/aliases' not in page.text
    assert (await post(agent, "/w/acme/aliases/remove", {"word": "percepat dong"})
            ).status_code == 403
    owner = await clients(OWNER)
    await post(owner, "/w/acme/aliases/remove", {"word": "percepat dong"})
    r = await api.delete(f"{base}/percepat%20dong", headers=Tenants.auth(tenants.owner))
    assert r.status_code == 404
    assert (await api.get(base, headers=Tenants.auth(tenants.agent))).json()["aliases"] == {}
