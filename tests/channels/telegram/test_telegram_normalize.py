"""Telegram updates into RawEvent and Inbound: every kind, UTF-16 mentions, malformed input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from panelpilot.channels.base import InboundKind
from panelpilot.channels.telegram.normalize import normalize, split_events
from panelpilot.sim.telegram import Limits, TelegramSim

BOT = "shop_bot"
DATE = 1_700_000_000


def private_message(text: str, **extra: Any) -> dict[str, Any]:
    return {"update_id": 10, "message": {
        "message_id": 5, "date": DATE, "text": text,
        "from": {"id": 42, "is_bot": False, "first_name": "Ann", "last_name": "Lee"},
        "chat": {"id": 42, "type": "private", "first_name": "Ann", "last_name": "Lee"},
        **extra}}


def group_message(text: str, entities: list[dict[str, Any]] | None = None,
                  chat_type: str = "supergroup") -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": 77, "date": DATE, "text": text,
        "from": {"id": 9, "is_bot": False, "first_name": "Bo"},
        "chat": {"id": -100555, "type": chat_type, "title": "Providers"}}
    if entities is not None:
        message["entities"] = entities
    return {"update_id": 11, "message": message}


def test_split_one_update_and_a_get_updates_answer() -> None:
    update = private_message("hi")
    assert [(e.key, e.payload) for e in split_events(update)] == [("10", update)]
    many = {"ok": True, "result": [update, {**update, "update_id": 11}, {"junk": 1}]}
    assert [e.key for e in split_events(many)] == ["10", "11"]
    assert [e.key for e in split_events([update])] == ["10"]
    assert split_events({"message": {}}) == []
    assert split_events({"update_id": True}) == []
    assert split_events("nonsense") == []


def test_private_text_message() -> None:
    inbound = normalize(private_message("2274209 refill", reply_to_message={
        "message_id": 4, "date": DATE, "chat": {"id": 42, "type": "private"},
        "from": {"id": 1001, "is_bot": True, "first_name": "Shop", "username": "Shop_Bot"}}),
        BOT)
    assert inbound.kind == InboundKind.MESSAGE
    assert inbound.chat_id == "42" and inbound.chat_type == "private"
    assert inbound.sender_id == "42" and inbound.sender_name == "Ann Lee"
    assert inbound.chat_title == "Ann Lee"
    assert inbound.text == "2274209 refill"
    assert inbound.message_id == "5" and inbound.reply_to == "4"
    assert inbound.occurred_at == datetime.fromtimestamp(DATE, tz=UTC)
    assert inbound.mentioned is False
    assert inbound.extra.get("reply_to_bot") is True


def test_group_chat_type_and_caption() -> None:
    update = group_message("", chat_type="group")
    message = update["message"]
    del message["text"]
    message["caption"] = "see @shop_bot"
    message["caption_entities"] = [{"type": "mention", "offset": 4, "length": 9}]
    inbound = normalize(update, BOT)
    assert inbound.chat_type == "group" and inbound.chat_title == "Providers"
    assert inbound.text == "see @shop_bot" and inbound.mentioned is True


def test_mention_after_emoji_uses_utf16_offsets() -> None:
    text = "😀👍 hi @shop_bot 2274209 refill"
    # Two emoji are four UTF-16 units but two Python characters; Telegram says offset 8.
    entities = [{"type": "mention", "offset": 8, "length": 9}]
    assert normalize(group_message(text, entities), BOT).mentioned is True
    # Slicing the Python str at 8 would read "hop_bot 2" and miss it; the Python index of
    # the @ (6) is not a valid Telegram offset either.
    wrong = [{"type": "mention", "offset": 6, "length": 9}]
    assert normalize(group_message(text, wrong), BOT).mentioned is False


def test_other_mentions_do_not_count() -> None:
    entities = [{"type": "mention", "offset": 0, "length": 10}]
    assert normalize(group_message("@other_bot hi", entities), BOT).mentioned is False
    assert normalize(group_message("@SHOP_BOT hi", [
        {"type": "mention", "offset": 0, "length": 9}]), BOT).mentioned is True
    assert normalize(group_message("@shop_bot hi", [
        {"type": "mention", "offset": 0, "length": 9}]), None).mentioned is False


def test_text_mention_and_bot_command_mention() -> None:
    text_mention = [{"type": "text_mention", "offset": 0, "length": 4,
                     "user": {"id": 1001, "is_bot": True, "first_name": "Shop",
                              "username": "shop_bot"}}]
    assert normalize(group_message("Shop, status", text_mention), BOT).mentioned is True
    command = [{"type": "bot_command", "offset": 0, "length": 16}]
    assert normalize(group_message("/status@shop_bot 1", command), BOT).mentioned is True
    bare = [{"type": "bot_command", "offset": 0, "length": 7}]
    assert normalize(group_message("/status 1", bare), BOT).mentioned is False


def test_edited_message_is_edit() -> None:
    update = private_message("2274209 speed")
    update["edited_message"] = {**update.pop("message"), "edit_date": DATE + 60}
    inbound = normalize(update, BOT)
    assert inbound.kind == InboundKind.EDIT
    assert inbound.text == "2274209 speed"
    assert inbound.occurred_at == datetime.fromtimestamp(DATE + 60, tz=UTC)


def test_callback_query() -> None:
    update = {"update_id": 12, "callback_query": {
        "id": "4382bfdwdsb323b2d9", "data": "plan:gold", "chat_instance": "-1",
        "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
        "message": {"message_id": 6, "date": DATE, "text": "Pick a plan",
                    "chat": {"id": 42, "type": "private", "first_name": "Ann"}}}}
    inbound = normalize(update, BOT)
    assert inbound.kind == InboundKind.CALLBACK
    assert inbound.callback_id == "4382bfdwdsb323b2d9"
    assert inbound.callback_data == "plan:gold"
    assert inbound.chat_id == "42" and inbound.sender_id == "42"
    assert inbound.message_id == "6"


def _member(chat: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    bot = {"id": 1001, "is_bot": True, "first_name": "Shop", "username": BOT}
    return {"update_id": 13, "my_chat_member": {
        "chat": chat, "from": {"id": 42, "is_bot": False, "first_name": "Ann"}, "date": DATE,
        "old_chat_member": {"status": old, "user": bot},
        "new_chat_member": {"status": new, "user": bot, "until_date": 0}}}


@pytest.mark.parametrize(("chat_type", "old", "new", "state"), [
    ("private", "member", "kicked", "blocked"),
    ("private", "kicked", "member", "active"),
    ("group", "left", "member", "active"),
    ("supergroup", "member", "administrator", "active"),
    ("group", "member", "left", "removed"),
    ("supergroup", "administrator", "kicked", "removed"),
])
def test_my_chat_member(chat_type: str, old: str, new: str, state: str) -> None:
    chat = {"id": 42 if chat_type == "private" else -5, "type": chat_type,
            "first_name": "Ann", "title": "G"}
    inbound = normalize(_member(chat, old, new), BOT)
    assert inbound.kind == InboundKind.MEMBER
    assert inbound.member_state == state
    assert inbound.chat_id == str(chat["id"])


def test_both_migration_messages_give_the_id_pair() -> None:
    to_msg = {"update_id": 14, "message": {
        "message_id": 9, "date": DATE, "migrate_to_chat_id": -1001234567890,
        "from": {"id": 9, "is_bot": False, "first_name": "Bo"},
        "chat": {"id": -300, "type": "group", "title": "Providers"}}}
    from_msg = {"update_id": 15, "message": {
        "message_id": 1, "date": DATE, "migrate_from_chat_id": -300,
        "from": {"id": 9, "is_bot": False, "first_name": "Bo"},
        "chat": {"id": -1001234567890, "type": "supergroup", "title": "Providers"}}}
    for update in (to_msg, from_msg):
        inbound = normalize(update, BOT)
        assert inbound.kind == InboundKind.MIGRATE
        assert (inbound.migrate_from, inbound.migrate_to) == ("-300", "-1001234567890")


def test_channel_posts_and_unknown_updates_are_ignored() -> None:
    post = {"update_id": 16, "channel_post": {
        "message_id": 1, "date": DATE, "text": "news",
        "chat": {"id": -1009, "type": "channel", "title": "VIP"}}}
    assert normalize(post, BOT).kind == InboundKind.IGNORED
    assert normalize({"update_id": 17, "edited_channel_post": post["channel_post"]},
                     BOT).kind == InboundKind.IGNORED
    assert normalize({"update_id": 18, "poll": {"id": "1"}}, BOT).kind == InboundKind.IGNORED
    sticker = private_message("x")
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {"file_id": "f"}
    inbound = normalize(sticker, BOT)
    assert inbound.kind == InboundKind.IGNORED and inbound.chat_id == "42"


@pytest.mark.parametrize("payload", [
    None, [], "x", 5, {}, {"update_id": 1},
    {"message": None}, {"message": "text"}, {"message": {}},
    {"message": {"chat": {"id": None}}},
    {"message": {"chat": {"id": 1, "type": "private"}, "text": 5, "date": "yesterday"}},
    {"message": {"chat": {"id": 1}, "text": "hi", "entities": "nope", "from": []}},
    {"message": {"chat": {"id": 1}, "text": "hi", "entities": [None, {"type": "mention"},
                 {"type": "mention", "offset": "0", "length": 3}], "date": 10**20}},
    {"message": {"chat": [1], "text": "hi"}},
    {"callback_query": {"id": 5}}, {"callback_query": {"id": "1", "message": "x"}},
    {"my_chat_member": {"chat": {"id": 1}, "new_chat_member": {"status": 3}}},
    {"my_chat_member": {"chat": {"id": 1}, "new_chat_member": {"status": "restricted"}}},
])
def test_malformed_payloads_never_raise(payload: Any) -> None:
    inbound = normalize(payload, BOT)
    assert inbound.kind in set(InboundKind)


def test_malformed_text_message_is_read_as_far_as_possible() -> None:
    inbound = normalize({"message": {"chat": {"id": 1}, "text": "hi", "date": 10**20,
                                     "entities": [None, {"type": "mention"}]}}, BOT)
    assert inbound.kind == InboundKind.MESSAGE
    assert inbound.text == "hi" and inbound.occurred_at is None


def test_simulator_updates_normalize_end_to_end() -> None:
    sim = TelegramSim(limits=Limits.off())
    token = "1001:abc"
    sim.add_bot(token, username=BOT)
    said = sim.user_says(token, -1007, "👋🏽 @Shop_Bot 2274209 refill", chat_type="supergroup",
                         user_id=9, first_name="Bo")
    inbound = normalize(said, BOT)
    assert inbound.kind == InboundKind.MESSAGE and inbound.mentioned is True
    assert inbound.chat_type == "group" and inbound.sender_name == "Bo"
    first, second = sim.migrate_group(token, -1007, -1001007)
    assert normalize(first, BOT).migrate_to == "-1001007"
    assert normalize(second, BOT).migrate_from == "-1007"
    assert normalize(sim.user_blocks(token, 42), BOT).member_state == "blocked"
