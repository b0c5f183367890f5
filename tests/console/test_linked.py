"""Linked users in the console: the list with search, filters and paging, linking a known or a
typed chat with errors beside the fields, unlinking, a chat's page with its last commands and
link history, the checklist step, and what agents may see."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from panelpilot.chats.models import Chat
from panelpilot.context import Context
from panelpilot.orders import linking
from panelpilot.orders.models import LinkedChat
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, field_errors, flashes, form_error, post
from tests.console.logdata import add_channel, add_chat
from tests.orders.helpers import JANE, JOHN, PROVIDER_GROUP, STRANGER, SUPPORT, Shop, make_shop
from tests.support import Tenants


@pytest.fixture
async def shop(ctx: Context, tenants: Tenants) -> AsyncIterator[Shop]:
    """acme over the panel simulator, set up by its workspace file (links with source file)."""
    async for s in make_shop(ctx):
        yield s


async def _links(ctx: Context, workspace_id: int) -> dict[str, tuple[str, str, str]]:
    """chat id → (username, source, linked_by)."""
    async with ctx.db.session(workspace_id) as s:
        rows = await s.execute(select(Chat.chat_id, LinkedChat.username, LinkedChat.source,
                                      LinkedChat.linked_by)
                               .join(Chat, Chat.id == LinkedChat.chat_pk))
        return {c: (u, src, by) for c, u, src, by in rows.all()}


async def _chat_pk(ctx: Context, workspace_id: int, chat_id: int | str) -> int:
    async with ctx.db.session(workspace_id) as s:
        return int((await s.execute(select(Chat.id).where(Chat.chat_id == str(chat_id)))
                    ).scalar_one())


def _usernames(page: str) -> list[str]:
    """The usernames of the list's rows, top to bottom."""
    return [html.unescape(u) for u in
            re.findall(r'<td data-label="Username"><a [^>]*><strong>(.*?)</strong>', page)]


async def test_empty_states_say_what_to_do(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/linked")
    assert r.status_code == 200
    assert "No linked users yet" in r.text and "Link a chat" in r.text
    assert 'href="/w/acme/channels"' in r.text  # no channel yet: connect one first
    agent = await (await clients(AGENT)).get("/w/acme/linked")
    assert "No linked users yet" in agent.text and "Link a chat" not in agent.text
    assert 'method="post" action="/w/acme/linked"' not in agent.text


async def test_list_shows_every_link_with_its_source(shop: Shop, clients: ClientFactory) -> None:
    await shop.say(STRANGER, "hello")  # a chat the workspace knows, not linked
    r = await (await clients(OWNER)).get("/w/acme/linked")
    assert sorted(_usernames(r.text)) == ["jane_smith", "jane_smith", "john_doe"]
    for text in (str(JOHN), str(JANE), "-100500", "Workspace file",
                 "managed by the workspace file", "by workspace file", "3</strong> linked chats"):
        assert text in r.text, text
    # The stranger's chat can be chosen in the form; provider groups and support chats not.
    options = re.findall(r'<option value="(\d+)"[^>]*>(.*?)</option>', r.text)
    labels = " | ".join(html.unescape(label) for _, label in options)
    assert str(STRANGER) in labels and "linked to john_doe" in labels
    assert str(PROVIDER_GROUP) not in labels and str(SUPPORT) not in labels


async def test_search_filters_and_their_errors(shop: Shop, clients: ClientFactory) -> None:
    owner = await clients(OWNER)
    assert _usernames((await owner.get("/w/acme/linked?q=JOHN")).text) == ["john_doe"]
    assert _usernames((await owner.get(f"/w/acme/linked?q={JANE}")).text) == ["jane_smith"]
    assert _usernames((await owner.get("/w/acme/linked?q=-100500")).text) == ["jane_smith"]
    assert len(_usernames((await owner.get("/w/acme/linked?channel=tg&source=file")).text)) == 3
    none = await owner.get("/w/acme/linked?source=self")
    assert "No linked chat matches these filters" in none.text
    wrong = await owner.get("/w/acme/linked?channel=nope&source=bogus")
    assert "There is no channel named nope." in wrong.text
    assert "Choose a source from the list." in wrong.text
    assert len(_usernames(wrong.text)) == 3  # the bad filters are ignored, not applied


async def test_paging_runs_in_the_database(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    tg = await add_channel(ctx, tenants.acme_id)
    async with ctx.db.session(tenants.acme_id) as s:
        for n in range(55):
            chat = await linking.chat_for(s, tenants.acme_id, tg, "telegram", str(9000 + n))
            await linking.link(s, tenants.acme_id, chat, f"user{n:02d}", source="api")
    owner = await clients(OWNER)
    first = await owner.get("/w/acme/linked")
    names = _usernames(first.text)
    assert len(names) == 50 and names[0] == "user54"
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None
    rest = _usernames((await owner.get(html.unescape(older.group(1)))).text)
    assert rest == [f"user{n:02d}" for n in range(4, -1, -1)]


async def test_link_a_known_chat(shop: Shop, clients: ClientFactory) -> None:
    await shop.say(STRANGER, "hello")
    pk = await _chat_pk(shop.ctx, shop.workspace_id, STRANGER)
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/linked", {"known": str(pk), "username": " ali_yilmaz "},
                   follow=True)
    assert str(r.url).endswith(f"/w/acme/linked/{pk}")
    assert flashes(r.text) == [("success", "Linked to ali_yilmaz: this chat can now ask about "
                                           "ali_yilmaz's orders.")]
    assert (await _links(shop.ctx, shop.workspace_id))[str(STRANGER)] == (
        "ali_yilmaz", "api", "owner@acme.test (console)")
    # The customer may now act on their orders.
    said = await shop.say(STRANGER, "2274216 status")
    assert "2274216" in said.text and "not yours" not in said.text.lower()


async def test_link_a_typed_chat_and_errors_beside_the_fields(
    shop: Shop, clients: ClientFactory
) -> None:
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/linked", {"chat_channel": "", "chat": "", "username": ""})
    assert r.status_code == 422
    assert field_errors(r.text) == {
        "chat_channel": "Choose the channel the chat writes to.",
        "chat": "Type the chat id (a Telegram id, or a WhatsApp number), or choose a known "
                "chat above.",
        "username": "Type the customer's username in your panel."}
    r = await post(owner, "/w/acme/linked", {"chat_channel": "tg", "chat": "777888",
                                            "username": "two words"})
    assert r.status_code == 422
    assert field_errors(r.text) == {
        "username": "A panel username is 1-100 characters without spaces."}
    assert 'value="777888"' in r.text and 'value="two words"' in r.text  # kept as typed
    r = await post(owner, "/w/acme/linked", {"chat_channel": "tg", "chat": str(PROVIDER_GROUP),
                                            "username": "john_doe"})
    assert field_errors(r.text) == {
        "chat": f"Chat {PROVIDER_GROUP} is a provider group chat and can not be linked to a "
                "customer."}
    r = await post(owner, "/w/acme/linked", {"known": "999999", "username": "john_doe"})
    assert field_errors(r.text) == {"known": "That chat is not in this workspace."}
    r = await post(owner, "/w/acme/linked", {"chat_channel": "tg", "chat": "777888",
                                            "username": "ivan_petrov"}, follow=True)
    assert flashes(r.text)[0][0] == "success"
    assert (await _links(shop.ctx, shop.workspace_id))["777888"][:2] == ("ivan_petrov", "api")


async def test_relinking_a_file_link_warns_that_the_file_wins(
    shop: Shop, clients: ClientFactory
) -> None:
    pk = await _chat_pk(shop.ctx, shop.workspace_id, JOHN)
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/linked", {"known": str(pk), "username": "john_doe"},
                   follow=True)
    assert flashes(r.text) == [("info", "This chat was already linked to john_doe.")]
    r = await post(owner, "/w/acme/linked", {"known": str(pk), "username": "jane_smith"},
                   follow=True)
    (kind, message), = flashes(r.text)
    assert kind == "success"
    assert message.startswith("Linked to jane_smith (it was linked to john_doe).")
    assert "the next “workspace apply” puts it back" in message
    # And so it does.
    await shop.apply(shop.file())
    assert (await _links(shop.ctx, shop.workspace_id))[str(JOHN)][:2] == ("john_doe", "file")


async def test_unlink(shop: Shop, clients: ClientFactory) -> None:
    pk = await _chat_pk(shop.ctx, shop.workspace_id, JANE)
    owner = await clients(OWNER)
    page = await owner.get("/w/acme/linked")
    assert 'data-confirm="Unlink ' in page.text  # the browser asks first
    r = await post(owner, f"/w/acme/linked/{pk}/unlink", {"back": "/w/acme/linked?q=jane"},
                   follow=True)
    assert str(r.url).endswith("/w/acme/linked?q=jane")
    (kind, message), = flashes(r.text)
    assert kind == "success"
    assert message.startswith(f"{JANE} is no longer linked to jane_smith. Made by the "
                              "workspace file: the next “workspace apply” puts it back")
    assert str(JANE) not in await _links(shop.ctx, shop.workspace_id)
    assert _usernames(r.text) == ["jane_smith"]  # only the group is left
    again = await post(owner, f"/w/acme/linked/{pk}/unlink", follow=True)
    assert flashes(again.text) == [("info", f"{JANE} was not linked.")]
    detail = await owner.get(f"/w/acme/linked/{pk}")
    assert detail.status_code == 200 and "not linked" in detail.text
    assert (await shop.say(JANE, "5163781 refill")).replies  # answered as not linked
    # An unsafe "back" goes to the list, never elsewhere.
    r = await post(owner, f"/w/acme/linked/{pk}/unlink", {"back": "https://evil.example/"})
    assert r.headers["location"] == "/w/acme/linked"


async def test_chat_page_with_last_commands_and_link_history(
    shop: Shop, clients: ClientFactory
) -> None:
    await shop.say(JOHN, "2274209 refill")
    await shop.say(JOHN, "2274214, 2274218 refill")
    await shop.say(STRANGER, "link ali_yilmaz")
    await shop.say(STRANGER, "123456")  # a wrong code
    await shop.say(SUPPORT, f"link {STRANGER} ali_yilmaz")
    owner = await clients(OWNER)
    john = await owner.get(f"/w/acme/linked/{await _chat_pk(shop.ctx, shop.workspace_id, JOHN)}")
    assert john.status_code == 200
    texts = re.findall(r'<td data-label="Text" class="wording"><code class="break">(.*?)</code>',
                       john.text)
    assert texts == ["2274214, 2274218 refill", "2274209 refill"]  # newest first
    for text in ("not eligible", "not yours", "sent", "✅ 2274209: refill request sent.",
                 "Linked to john_doe", "Workspace file", "the next “workspace apply”"):
        assert text in html.unescape(john.text), text
    ali = await owner.get(
        f"/w/acme/linked/{await _chat_pk(shop.ctx, shop.workspace_id, STRANGER)}")
    page = html.unescape(ali.text)
    assert "Linked to <strong>ali_yilmaz</strong>" in page
    history = re.findall(r"<li>\s*<span class=\"linked-when\">.*?</span>\s*<div><strong>(.*?)"
                         r"</strong>(.*?)<br>", page, re.S)
    assert [(what, rest.strip(" —")) for what, rest in history] == [
        ("Linked to ali_yilmaz from a support chat", "done"),
        ("Sent a one-time code for ali_yilmaz", "wrong code"),
        ("Asked to be linked to ali_yilmaz", "a code was sent as a panel ticket"),
    ]
    assert f"by support chat {SUPPORT}" in page


async def test_command_log_links_only_when_the_page_exists(
    shop: Shop, clients: ClientFactory, app: FastAPI
) -> None:
    shop_app = app
    from panelpilot.console.pages.linked import command_log_url

    await shop.say(JOHN, "2274209 refill")
    pk = await _chat_pk(shop.ctx, shop.workspace_id, JOHN)
    page = (await (await clients(OWNER)).get(f"/w/acme/linked/{pk}")).text

    class _App:
        routes: list[object] = []

    class _Request:
        app = _App()

    class _AppRequest:
        app = shop_app

    assert command_log_url(_Request(), "/w/acme") is None  # type: ignore[arg-type]
    if command_log_url(_AppRequest(), "/w/acme") is not None:  # the log pages are installed
        command_id = re.search(r'href="/w/acme/commands/(\d+)"', page)
        assert command_id is not None
        assert f'href="/w/acme/commands?chat_id={JOHN}"' in page
        assert 'href="/w/acme/commands?username=john_doe"' in page


async def test_chat_pages_of_other_workspaces_are_not_found(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    tg = await add_channel(ctx, tenants.other_id, key="tg")
    pk = await add_chat(ctx, tenants.other_id, tg, "31337", role="customer")
    owner = await clients(OWNER)
    assert (await owner.get(f"/w/acme/linked/{pk}")).status_code == 404
    assert (await post(owner, f"/w/acme/linked/{pk}/unlink")).status_code == 404
    r = await post(owner, "/w/acme/linked", {"known": str(pk), "username": "x"})
    assert r.status_code == 422
    assert form_error(r.text) == "That chat is not in this workspace."


async def test_checklist_step(shop: Shop, clients: ClientFactory,
                              tenants: Tenants) -> None:
    owner = await clients(OWNER)
    overview = html.unescape((await owner.get("/w/acme")).text)
    assert "Link users" in overview and "3 chats linked to panel usernames" in overview
    assert 'href="/w/acme/linked"' in overview


async def test_checklist_step_to_do(ctx: Context, clients: ClientFactory,
                                    tenants: Tenants) -> None:
    overview = html.unescape((await (await clients(OWNER)).get("/w/acme")).text)
    assert "Link a customer's chat to their panel username" in overview


async def test_agents_read_but_never_change(shop: Shop, clients: ClientFactory) -> None:
    pk = await _chat_pk(shop.ctx, shop.workspace_id, JOHN)
    agent = await clients(AGENT)
    listing = await agent.get("/w/acme/linked")
    assert listing.status_code == 200 and "john_doe" in listing.text
    assert "Unlink" not in listing.text and "Link a chat" not in listing.text
    detail = await agent.get(f"/w/acme/linked/{pk}")
    assert detail.status_code == 200 and "Change username" not in detail.text
    before = await _links(shop.ctx, shop.workspace_id)
    assert (await post(agent, f"/w/acme/linked/{pk}/unlink")).status_code == 403
    assert (await post(agent, "/w/acme/linked", {"known": str(pk), "username": "x"})
            ).status_code == 403
    assert await _links(shop.ctx, shop.workspace_id) == before
