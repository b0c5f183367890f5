"""Chats: the chats seen per channel, search, filters, paging, reachability, and role changes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from panelpilot.chats.models import Chat
from panelpilot.console.listing import PAGE_SIZE
from panelpilot.context import Context
from panelpilot.db.base import utcnow
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, flashes, post
from tests.console.logdata import BOT_TOKEN, add_channel, add_chat
from tests.support import Tenants


async def _role(ctx: Context, workspace_id: int, pk: int) -> str:
    async with ctx.db.session(workspace_id) as s:
        return str((await s.execute(select(Chat.role).where(Chat.id == pk))).scalar_one())


async def test_empty_states_say_what_to_do(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/chats")
    assert "No chat yet" in r.text and 'href="/w/acme/channels"' in r.text
    await add_channel(ctx, tenants.acme_id)
    r = await owner.get("/w/acme/chats")
    assert "Send your bot a message" in r.text
    agent = await (await clients(AGENT)).get("/w/acme/chats")
    assert "No chat yet" in agent.text


async def test_chats_with_role_reachability_and_last_message(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    tg = await add_channel(ctx, tenants.acme_id)
    await add_chat(ctx, tenants.acme_id, tg, "5512345", title="Jane Buyer", role="customer",
                   last_inbound_at=utcnow() - timedelta(minutes=5))
    await add_chat(ctx, tenants.acme_id, tg, "-1001234", title="Provider A group",
                   role="provider_group", chat_type="supergroup")
    await add_chat(ctx, tenants.acme_id, tg, "777", title="Gone Guy", reachable=False,
                   reason="blocked the bot")
    r = await (await clients(OWNER)).get("/w/acme/chats")
    assert r.status_code == 200
    for text in ("Jane Buyer", "5512345", "Provider A group", "5 minutes ago",
                 "blocked the bot", "unreachable", "never"):
        assert text in r.text, text
    assert 'href="/w/acme/messages?chat_id=5512345&amp;channel=tg"' in r.text
    assert BOT_TOKEN not in r.text


async def test_search_and_filters_run_on_the_server(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    tg = await add_channel(ctx, tenants.acme_id)
    wa = await add_channel(ctx, tenants.acme_id, key="tg2", token="7000002:other")
    await add_chat(ctx, tenants.acme_id, tg, "5512345", title="Jane Buyer", role="customer")
    await add_chat(ctx, tenants.acme_id, tg, "-1001234", title="Provider A group",
                   role="provider_group")
    await add_chat(ctx, tenants.acme_id, wa, "99887", title="Max 100% Buyer", role="customer",
                   reachable=False, reason="blocked the bot")
    owner = await clients(OWNER)

    async def shown(query: str) -> set[str]:
        r = await owner.get(f"/w/acme/chats?{query}")
        assert r.status_code == 200
        return {t for t in ("Jane Buyer", "Provider A group", "Max 100% Buyer") if t in r.text}

    assert await shown("q=jane") == {"Jane Buyer"}
    assert await shown("q=-1001") == {"Provider A group"}
    assert await shown("q=100%25") == {"Max 100% Buyer"}  # % is a character, not a wildcard
    assert await shown("role=customer") == {"Jane Buyer", "Max 100% Buyer"}
    assert await shown("channel=tg2") == {"Max 100% Buyer"}
    assert await shown("state=unreachable") == {"Max 100% Buyer"}
    assert await shown("role=customer&channel=tg") == {"Jane Buyer"}
    none = await owner.get("/w/acme/chats?q=nobody")
    assert "No chat matches these filters" in none.text
    bad = await owner.get("/w/acme/chats?channel=nope&role=boss")
    assert "There is no channel named nope." in bad.text
    assert "Choose a role from the list." in bad.text


async def test_paging_goes_to_older_chats(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    tg = await add_channel(ctx, tenants.acme_id)
    for n in range(PAGE_SIZE + 3):
        await add_chat(ctx, tenants.acme_id, tg, str(10_000 + n), title=f"Chat number {n:03}",
                       role="customer")
    owner = await clients(OWNER)
    first = await owner.get("/w/acme/chats?role=customer")
    assert f"Chat number {PAGE_SIZE + 2:03}" in first.text  # newest first
    assert "Chat number 002" not in first.text
    older = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    older = older.replace("&amp;", "&")
    assert "role=customer" in older and "before=" in older
    second = await owner.get(older)
    assert "Chat number 000" in second.text and "Chat number 002" in second.text
    assert f"Chat number {PAGE_SIZE + 2:03}" not in second.text
    assert "← Newest" in second.text and 'rel="next"' not in second.text


async def test_owner_changes_a_role_and_agent_cannot(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    tg = await add_channel(ctx, tenants.acme_id)
    pk = await add_chat(ctx, tenants.acme_id, tg, "-1001234", title="Provider A group")
    owner = await clients(OWNER)
    r = await post(owner, f"/w/acme/chats/{pk}/role",
                   {"role": "provider_group", "back": "/w/acme/chats?q=provider"})
    assert r.status_code == 303 and r.headers["location"] == "/w/acme/chats?q=provider"
    page = await owner.get(r.headers["location"])
    assert ("success", "Provider A group is now: provider group.") in flashes(page.text)
    assert await _role(ctx, tenants.acme_id, pk) == "provider_group"

    r = await post(owner, f"/w/acme/chats/{pk}/role", {"role": "boss"}, follow=True)
    assert any(m.startswith("Role is one of: customer") for _, m in flashes(r.text))
    # The way back never leaves the workspace.
    r = await post(owner, f"/w/acme/chats/{pk}/role",
                   {"role": "support", "back": "https://evil.example/w/acme/chats"})
    assert r.headers["location"] == "/w/acme/chats"

    agent = await clients(AGENT)
    agent_page = (await agent.get("/w/acme/chats")).text
    assert f"/chats/{pk}/role" not in agent_page and "Provider A group" in agent_page
    r = await post(agent, f"/w/acme/chats/{pk}/role", {"role": "customer"})
    assert r.status_code == 403
    assert await _role(ctx, tenants.acme_id, pk) == "support"
    assert (await post(owner, "/w/acme/chats/999999/role", {"role": "customer"})
            ).status_code == 404
