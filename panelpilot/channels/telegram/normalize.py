"""Turn Telegram Bot API updates into the spine's channel-neutral ``RawEvent`` and ``Inbound``.

Works on the raw JSON dicts exactly as Telegram sends them (webhook body or getUpdates result),
never on aiogram objects, so what the inbox stores is what Telegram said. Nothing here raises on
bad input: an update we cannot read becomes ``IGNORED``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from panelpilot.channels.base import Inbound, InboundKind, RawEvent

# Private chats: the person stopped or blocked the bot. Groups: the bot was removed.
_GONE = {"kicked", "left"}
_PRESENT = {"member", "administrator", "creator"}


def split_events(payload: Any) -> list[RawEvent]:
    """Cut a webhook body (one Update), a getUpdates answer or a list of Updates into events."""
    if isinstance(payload, Mapping) and isinstance(payload.get("result"), list):
        items: list[Any] = payload["result"]
    elif isinstance(payload, list):
        items = payload
    else:
        items = [payload]
    events = []
    for item in items:
        update_id = _int(item.get("update_id")) if isinstance(item, Mapping) else None
        # Without update_id an update cannot be deduplicated, and Telegram always sends one.
        if update_id is not None:
            events.append(RawEvent(key=str(update_id), payload=dict(item)))
    return events


def normalize(payload: Any, bot_username: str | None = None) -> Inbound:
    """Read one Telegram Update. ``bot_username`` (without @) lets us tell if the bot was named."""
    try:
        return _normalize(payload, bot_username)
    except Exception:  # noqa: BLE001 - a malformed update must never stall the inbox
        return Inbound(kind=InboundKind.IGNORED, extra={"reason": "malformed"})


def _normalize(payload: Any, bot_username: str | None) -> Inbound:
    if not isinstance(payload, Mapping):
        return _ignored("not an object")
    if (msg := _obj(payload, "message")) is not None:
        return _from_message(msg, bot_username, edited=False)
    if (msg := _obj(payload, "edited_message")) is not None:
        return _from_message(msg, bot_username, edited=True)
    if (cq := _obj(payload, "callback_query")) is not None:
        return _from_callback(cq)
    if (member := _obj(payload, "my_chat_member")) is not None:
        return _from_my_chat_member(member)
    for kind in ("channel_post", "edited_channel_post"):
        if (post := _obj(payload, kind)) is not None:
            chat = _obj(post, "chat") or {}
            return _ignored(kind, chat_id=_id(chat.get("id")), chat_title=_str(chat.get("title")))
    kinds = [k for k in payload if k != "update_id"]
    return _ignored(kinds[0] if kinds else "empty")


def _from_message(msg: Mapping[str, Any], bot_username: str | None, *, edited: bool) -> Inbound:
    chat = _obj(msg, "chat")
    if chat is None or _id(chat.get("id")) is None:
        return _ignored("message without chat")
    chat_id = _id(chat.get("id"))
    common = _chat_fields(chat) | _sender_fields(msg)
    occurred = _when(msg.get("edit_date") if edited else None) or _when(msg.get("date"))

    # A group upgraded to a supergroup produces two service messages, one in each chat; the
    # spine only needs the pair of ids, whichever of the two arrives (or arrives first).
    if (new_id := _id(msg.get("migrate_to_chat_id"))) is not None:
        return Inbound(
            kind=InboundKind.MIGRATE, migrate_from=chat_id, migrate_to=new_id,
            occurred_at=occurred, message_id=_id(msg.get("message_id")), **common,
        )
    if (old_id := _id(msg.get("migrate_from_chat_id"))) is not None:
        return Inbound(
            kind=InboundKind.MIGRATE, migrate_from=old_id, migrate_to=chat_id,
            occurred_at=occurred, message_id=_id(msg.get("message_id")), **common,
        )

    text = _str(msg.get("text"))
    entities = msg.get("entities")
    if text is None:
        text = _str(msg.get("caption"))
        entities = msg.get("caption_entities")
    if text is None:
        # Stickers, photos without caption and service messages (joins, pins): nothing to act on.
        return _ignored("no text", **common)

    extra: dict[str, Any] = {}
    sender = _obj(msg, "from") or {}
    if sender.get("is_bot") is True:
        extra["from_bot"] = True
    reply = _obj(msg, "reply_to_message")
    if reply is not None and bot_username:
        replied_to = _obj(reply, "from") or {}
        if _same_name(replied_to.get("username"), bot_username):
            extra["reply_to_bot"] = True
    return Inbound(
        kind=InboundKind.EDIT if edited else InboundKind.MESSAGE,
        text=text,
        message_id=_id(msg.get("message_id")),
        reply_to=_id(reply.get("message_id")) if reply is not None else None,
        mentioned=_mentions(text, entities, bot_username),
        occurred_at=occurred,
        extra=extra,
        **common,
    )


def _from_callback(cq: Mapping[str, Any]) -> Inbound:
    callback_id = _str(cq.get("id"))
    if callback_id is None:
        return _ignored("callback without id")
    msg = _obj(cq, "message") or {}
    chat = _obj(msg, "chat")
    return Inbound(
        kind=InboundKind.CALLBACK,
        callback_id=callback_id,
        callback_data=_str(cq.get("data")),
        message_id=_id(msg.get("message_id")),
        **(_chat_fields(chat) if chat is not None else {}),
        **_sender_fields(cq),
    )


def _from_my_chat_member(member: Mapping[str, Any]) -> Inbound:
    chat = _obj(member, "chat")
    new = _obj(member, "new_chat_member") or {}
    status = _str(new.get("status"))
    if chat is None or status is None:
        return _ignored("my_chat_member without chat or status")
    private = chat.get("type") == "private"
    if status == "restricted":
        status = "member" if new.get("is_member") is True else "left"
    if status in _GONE:
        state = "blocked" if private else "removed"
    elif status in _PRESENT:
        state = "active"
    else:
        return _ignored(f"my_chat_member {status}")
    return Inbound(
        kind=InboundKind.MEMBER,
        member_state=state,
        occurred_at=_when(member.get("date")),
        extra={"status": status},
        **_chat_fields(chat),
        **_sender_fields(member),
    )


def _mentions(text: str, entities: Any, bot_username: str | None) -> bool:
    if not bot_username or not isinstance(entities, list):
        return False
    name = bot_username.lstrip("@")
    # Entity offsets and lengths count UTF-16 code units: an emoji before the mention is two
    # units but one Python character, so slicing the str directly would cut the wrong text.
    encoded = text.encode("utf-16-le")
    for entity in entities:
        if not isinstance(entity, Mapping):
            continue
        kind = entity.get("type")
        if kind == "text_mention":
            user = _obj(entity, "user") or {}
            if _same_name(user.get("username"), name):
                return True
            continue
        offset, length = _int(entity.get("offset")), _int(entity.get("length"))
        if offset is None or length is None or offset < 0 or length <= 0:
            continue
        piece = encoded[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")
        if kind == "mention" and _same_name(piece, "@" + name):
            return True
        if kind == "bot_command" and piece.lower().endswith("@" + name.lower()):
            return True
    return False


def _chat_fields(chat: Mapping[str, Any]) -> dict[str, Any]:
    raw_type = _str(chat.get("type"))
    chat_type = "group" if raw_type in ("group", "supergroup") else raw_type
    title = _str(chat.get("title")) or _full_name(chat)
    return {"chat_id": _id(chat.get("id")), "chat_type": chat_type, "chat_title": title}


def _sender_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    user = _obj(obj, "from")
    if user is None:
        return {}
    return {"sender_id": _id(user.get("id")), "sender_name": _full_name(user)}


def _full_name(obj: Mapping[str, Any]) -> str | None:
    parts = [p for p in (_str(obj.get("first_name")), _str(obj.get("last_name"))) if p]
    return " ".join(parts) or None


def _ignored(reason: str, **fields: Any) -> Inbound:
    return Inbound(kind=InboundKind.IGNORED, extra={"reason": reason}, **fields)


def _same_name(value: Any, name: str) -> bool:
    return isinstance(value, str) and value.lower() == name.lower()


def _obj(container: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = container.get(key)
    return value if isinstance(value, Mapping) else None


def _int(value: Any) -> int | None:
    # bool is an int in Python, and never a valid Telegram id or offset.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _id(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    number = _int(value)
    return str(number) if number is not None else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _when(value: Any) -> datetime | None:
    stamp = _int(value)
    if stamp is None or stamp <= 0:
        return None
    try:
        return datetime.fromtimestamp(stamp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
