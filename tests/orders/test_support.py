"""Support chats: any order of the workspace, linking from chat, full order details."""

from __future__ import annotations

from sqlalchemy import select

from panelpilot.chats.models import Chat
from panelpilot.orders.models import CommandLog, LinkedChat
from tests.orders.helpers import JOHN, PROVIDER_GROUP, STRANGER, SUPPORT, Shop


async def _link_of(shop: Shop, chat_id: str) -> str | None:
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        return (await s.execute(select(LinkedChat.username).join(
            Chat, Chat.id == LinkedChat.chat_pk).where(Chat.chat_id == chat_id))).scalar()


async def test_support_acts_on_any_order(shop: Shop) -> None:
    said = await shop.say(SUPPORT, "2274218, 2274209 refill", user_id=90)
    # 2274218 is jane's completed TikTok order, 2274209 john's: both theirs to ask for
    assert said.replies == ["✅ 2274218, 2274209: refill request sent."]
    assert said.to(PROVIDER_GROUP) == ["EXT-99820, EXT-99812 refill"]
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        command = (await s.execute(select(CommandLog))).scalar_one()
    assert command.source == "support" and command.username is None
    # the same checks still hold: a support chat can not speed up a completed order
    assert "not possible" in (await shop.say(SUPPORT, "2274209 speed", user_id=90)).text


async def test_order_details(shop: Shop) -> None:
    said = await shop.say(SUPPORT, "order 2274209", user_id=90)
    [text] = said.replies
    for part in ("Order 2274209", "User: john_doe", "Status: completed",
                 "Service: #101 Instagram Followers [Start: 0-1 Hour]",
                 "Rules: start within 1 hour (name), refill 30 days (name)",
                 "Quantity: 1000, start count: 1520, remains: 0", "Charge: 1.2",
                 "Provider: smmprovider.com (route smmprovider → -100700)",
                 "External id: EXT-99812", "Created: "):
        assert part in text, part
    # cooldowns show up once there is one
    await shop.say(JOHN, "2274209 refill")
    text = (await shop.say(SUPPORT, "order 2274209 9999999", user_id=90)).text
    assert "Cooldown: refill for 1 day" in text
    assert "Order 9999999: not found in the panel." in text


async def test_customers_can_not_use_order_details_of_others(shop: Shop) -> None:
    # "order <id>" from a customer is a status question about their own orders only
    assert (await shop.say(JOHN, "order 2274218")).replies == [
        "❌ 2274218: this order is not on your account."]


async def test_link_and_unlink_from_the_support_chat(shop: Shop) -> None:
    said = await shop.say(SUPPORT, f"link {STRANGER} ivan_petrov", user_id=90)
    assert said.replies == [f"Linked tg:{STRANGER} to ivan_petrov."]
    assert await _link_of(shop, str(STRANGER)) == "ivan_petrov"
    assert (await shop.say(STRANGER, "2274220 status")).replies[0].startswith("📦 2274220")
    # a chat that never wrote can be linked too, and a channel can be named
    said = await shop.say(SUPPORT, "link tg:555000777 budi_santoso", user_id=90)
    assert said.replies == ["Linked tg:555000777 to budi_santoso."]
    assert await _link_of(shop, "555000777") == "budi_santoso"
    said = await shop.say(SUPPORT, f"unlink {STRANGER}", user_id=90)
    assert said.replies == [f"Unlinked tg:{STRANGER} (was ivan_petrov)."]
    assert await _link_of(shop, str(STRANGER)) is None
    assert (await shop.say(SUPPORT, f"unlink {STRANGER}", user_id=90)).replies == [
        f"tg:{STRANGER} is not linked."]


async def test_support_can_not_link_provider_or_support_chats(shop: Shop) -> None:
    said = await shop.say(SUPPORT, f"link {PROVIDER_GROUP} john_doe", user_id=90)
    assert said.replies == ["Not linked: that chat is a provider group chat."]
    said = await shop.say(SUPPORT, f"link {SUPPORT} john_doe", user_id=90)
    assert said.replies == ["Not linked: that chat is a support chat."]


async def test_support_help_and_usage(shop: Shop) -> None:
    said = await shop.say(SUPPORT, "help", user_id=90)
    assert said.replies[0].startswith("Support chat commands:")
    said = await shop.say(SUPPORT, "link john_doe", user_id=90)
    assert said.replies[0].startswith("Support chat commands:")
    # chatter in the support chat is not answered
    assert (await shop.say(SUPPORT, "anyone seen the new provider prices?",
                           user_id=90)).replies == []


async def test_customers_can_not_use_admin_commands(shop: Shop) -> None:
    assert (await shop.say(JOHN, f"link {STRANGER} john_doe")).replies == []
    assert (await shop.say(JOHN, f"unlink {STRANGER}")).replies == []
    assert await _link_of(shop, str(JOHN)) == "john_doe"
