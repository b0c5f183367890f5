"""Self-service linking with a one-time code delivered as a panel ticket: success, expiry,
wrong codes, reuse, the cool-off, and no hint whether a username exists."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from panelpilot.orders.models import LinkChallenge, LinkedChat
from tests.orders.helpers import JOHN, STRANGER, Shop

CODE_SENT = ("If {user} is an account on our panel, a ticket with a 6-digit code is now "
             "waiting there. Send the code here within 5 minutes.")


def _code_for(shop: Shop, username: str) -> str:
    ticket = [t for t in shop.panel.created_tickets if t.user == username][-1]
    assert ticket.subject == "Chat link code"
    match = re.search(r"\b(\d{6})\b", ticket.messages[0].text)
    assert match, ticket.messages[0].text
    return match.group(1)


async def _links(shop: Shop) -> dict[str, str]:
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        from panelpilot.chats.models import Chat

        rows = await s.execute(select(Chat.chat_id, LinkedChat.username, LinkedChat.source)
                               .join(Chat, Chat.id == LinkedChat.chat_pk))
        return {c: f"{u}/{src}" for c, u, src in rows.all()}


async def test_link_with_the_code_from_the_panel_ticket(shop: Shop) -> None:
    said = await shop.say(STRANGER, "link ali_yilmaz")
    assert said.replies == [CODE_SENT.format(user="ali_yilmaz")]
    code = _code_for(shop, "ali_yilmaz")
    said = await shop.say(STRANGER, code)
    assert said.replies == ["✅ This chat is now linked to ali_yilmaz."]
    assert (await _links(shop))[str(STRANGER)] == "ali_yilmaz/self"
    # and the chat may now act on ali's orders
    assert (await shop.say(STRANGER, "2274216 status")).replies[0].startswith(
        "📦 2274216: completed.")
    # the code never appears in any log
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        from panelpilot.orders.models import CommandLog, PanelCall

        texts = [c.reply + c.detail for c in (await s.execute(select(CommandLog))).scalars()]
        texts += [c.detail for c in (await s.execute(select(PanelCall))).scalars()]
    assert not any(code in t for t in texts if "2274216" not in t)


async def test_a_code_is_single_use(shop: Shop) -> None:
    await shop.say(STRANGER, "link ali_yilmaz")
    code = _code_for(shop, "ali_yilmaz")
    assert (await shop.say(STRANGER, code)).replies == [
        "✅ This chat is now linked to ali_yilmaz."]
    await shop.say(STRANGER, "unlink")
    assert (await shop.say(STRANGER, code)).replies == [
        "That code is no longer valid. Send link <username> to get a new one."]
    assert str(STRANGER) not in await _links(shop)


async def test_an_expired_code_does_not_link(shop: Shop) -> None:
    await shop.say(STRANGER, "link ali_yilmaz")
    code = _code_for(shop, "ali_yilmaz")
    async with shop.ctx.db.session(shop.workspace_id) as s:
        from panelpilot.db.base import utcnow

        await s.execute(update(LinkChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await shop.say(STRANGER, code)).replies == [
        "That code is no longer valid. Send link <username> to get a new one."]
    assert str(STRANGER) not in await _links(shop)


async def test_wrong_codes_then_a_cool_off(shop: Shop) -> None:
    await shop.say(STRANGER, "link ali_yilmaz")
    code = _code_for(shop, "ali_yilmaz")
    wrong = "111111" if code != "111111" else "222222"
    assert (await shop.say(STRANGER, wrong)).replies == ["❌ That code is not right. Tries "
                                                         "left: 2."]
    assert (await shop.say(STRANGER, wrong)).replies == ["❌ That code is not right. Tries "
                                                         "left: 1."]
    assert (await shop.say(STRANGER, wrong)).replies == [
        "Too many attempts. Please try again in 15 min."]
    # locked: even the right code does not work now, and no new code can be asked for
    assert (await shop.say(STRANGER, code)).replies[0].startswith("Too many attempts.")
    tickets = len(shop.panel.created_tickets)
    assert (await shop.say(STRANGER, "link ali_yilmaz")).replies[0].startswith(
        "Too many attempts. Please try again in 1")
    assert len(shop.panel.created_tickets) == tickets
    assert str(STRANGER) not in await _links(shop)


async def test_a_new_request_replaces_the_earlier_code(shop: Shop) -> None:
    await shop.say(STRANGER, "link ali_yilmaz")
    first = _code_for(shop, "ali_yilmaz")
    await shop.say(STRANGER, "link ali_yilmaz")
    second = _code_for(shop, "ali_yilmaz")
    if first != second:  # only the newest code counts; an older one is a wrong try
        assert (await shop.say(STRANGER, first)).replies == [
            "❌ That code is not right. Tries left: 2."]
    assert (await shop.say(STRANGER, second)).replies == [
        "✅ This chat is now linked to ali_yilmaz."]


async def test_unknown_usernames_get_the_same_answer_and_no_code_works(shop: Shop) -> None:
    said = await shop.say(STRANGER, "link nobody_here")
    assert said.replies == [CODE_SENT.format(user="nobody_here")]
    assert not [t for t in shop.panel.created_tickets if t.user == "nobody_here"]
    for code in ("123456", "654321"):
        assert (await shop.say(STRANGER, code)).replies[0].startswith(
            "❌ That code is not right.")
    assert str(STRANGER) not in await _links(shop)


async def test_link_requests_are_limited_per_chat(shop: Shop) -> None:
    for _ in range(5):
        assert (await shop.say(STRANGER, "link ali_yilmaz")).replies[0].startswith("If ")
    said = await shop.say(STRANGER, "link ali_yilmaz")
    assert said.replies[0].startswith("Too many attempts. Please try again in")
    assert len([t for t in shop.panel.created_tickets if t.user == "ali_yilmaz"]) == 5


async def test_a_panel_outage_during_linking_is_an_api_problem(shop: Shop) -> None:
    shop.panel.fail_next(503)
    said = await shop.say(STRANGER, "link ali_yilmaz")
    assert said.replies == ["We could not check your order right now. Please try again in a "
                            "few minutes."]
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        assert (await s.execute(select(LinkChallenge))).first() is None


async def test_a_six_digit_number_without_a_pending_code_is_silence(shop: Shop) -> None:
    assert (await shop.say(JOHN, "123456")).replies == []


async def test_relinking_a_linked_chat_moves_it_to_the_new_username(shop: Shop) -> None:
    await shop.say(JOHN, "link ali_yilmaz")
    await shop.say(JOHN, _code_for(shop, "ali_yilmaz"))
    assert (await _links(shop))[str(JOHN)] == "ali_yilmaz/self"
    assert (await shop.say(JOHN, "2274209 status")).replies == [
        "❌ 2274209: this order is not on your account."]
