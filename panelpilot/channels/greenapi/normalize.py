"""Cut Green API notifications into stored events and turn each into the channel-neutral Inbound.

A notification arrives either as a webhook body or as a receiveNotification answer
(``{"receiptId": n, "body": {...}}``); both carry one event. Nothing here raises on bad input:
whatever cannot be read becomes ``InboundKind.IGNORED``.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from panelpilot.channels.base import Inbound, InboundKind, RawEvent

# typeWebhook values that describe one chat message (incoming or our own).
MESSAGE_WEBHOOKS = frozenset(
    {"incomingMessageReceived", "outgoingMessageReceived", "outgoingAPIMessageReceived"}
)
ECHO_WEBHOOKS = frozenset({"outgoingMessageReceived", "outgoingAPIMessageReceived"})

# Green API puts "{{SWE001}}"-style markers in place of content it could not render (unsupported
# message kinds, errors on its side). They are not something the customer typed.
_SWE_MARKER = re.compile(r"^\s*\{\{\s*(SWE\d+)\s*\}\}\s*$")

# Outgoing status words, Green API's spelling -> ours. Anything that means "will never arrive"
# becomes "failed"; the original word is kept in extra["reason"].
_STATUS_WORDS = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "read",
    "failed": "failed",
    "noaccount": "failed",
    "notingroup": "failed",
    "yellowcard": "failed",
    "noactivesession": "failed",
}

_FILE_TYPES = frozenset({"imageMessage", "videoMessage", "documentMessage", "audioMessage"})


def unwrap(payload: Any) -> dict[str, Any] | None:
    """The notification body, whether given a webhook body or a receiveNotification answer."""
    if not isinstance(payload, dict):
        return None
    body = payload.get("body")
    if "typeWebhook" not in payload and "receiptId" in payload and isinstance(body, dict):
        return body
    return payload


def split_events(payload: Any, id_instance: str) -> list[RawEvent]:
    """One webhook body or poll answer into events, each with the key the inbox dedupes on."""
    body = unwrap(payload)
    if body is None:
        return []  # receiveNotification answers `null` when the queue is empty
    return [RawEvent(key=event_key(body, id_instance), payload=body)]


def event_key(body: dict[str, Any], id_instance: str) -> str:
    """Unique per instance: Green API resends a webhook until it gets a 2xx, with the same body."""
    kind = _str(body.get("typeWebhook"))
    prefix = f"{id_instance}:"
    if kind in MESSAGE_WEBHOOKS:
        chat = _str(_dict(body.get("senderData")).get("chatId"))
        id_message = _str(body.get("idMessage"))
        if chat and id_message:
            return f"{prefix}{chat}:{id_message}"
    elif kind == "outgoingMessageStatus":
        id_message = _str(body.get("idMessage"))
        status = _str(body.get("status"))
        if id_message and status:
            return f"{prefix}status:{id_message}:{status}"
    elif kind == "stateInstanceChanged":
        state = _str(body.get("stateInstance"))
        if state:
            return f"{prefix}state:{state}:{_str(body.get('timestamp'))}"
    elif kind and body.get("idMessage") is not None:
        # incomingCall and friends carry an id of their own
        return f"{prefix}{kind}:{_str(body.get('idMessage'))}"
    return f"{prefix}{kind or 'unknown'}:{_digest(body)}"


def normalize(payload: Any) -> Inbound:
    """One stored event (a webhook body) into an Inbound; unreadable input is IGNORED."""
    try:
        body = unwrap(payload)
        if body is None:
            return Inbound(kind=InboundKind.IGNORED)
        return _normalize(body)
    except Exception:  # a hostile payload must never stop the inbox worker
        return Inbound(kind=InboundKind.IGNORED, extra={"error": "unreadable"})


def _normalize(body: dict[str, Any]) -> Inbound:
    kind = _str(body.get("typeWebhook"))
    if kind in MESSAGE_WEBHOOKS:
        return _message(body, echo=kind in ECHO_WEBHOOKS)
    if kind == "outgoingMessageStatus":
        return _status(body)
    if kind == "stateInstanceChanged":
        state = _str(body.get("stateInstance"))
        if not state:
            return Inbound(kind=InboundKind.IGNORED, extra={"typeWebhook": kind})
        return Inbound(
            kind=InboundKind.STATE,
            account_state=state,
            occurred_at=_time(body.get("timestamp")),
        )
    return Inbound(
        kind=InboundKind.IGNORED,
        occurred_at=_time(body.get("timestamp")),
        extra={"typeWebhook": kind},
    )


def _message(body: dict[str, Any], *, echo: bool) -> Inbound:
    sender = _dict(body.get("senderData"))
    data = _dict(body.get("messageData"))
    chat_id = _str(sender.get("chatId"))
    id_message = _str(body.get("idMessage"))
    if not chat_id or not id_message:
        return Inbound(kind=InboundKind.IGNORED, extra={"typeWebhook": body.get("typeWebhook")})
    type_message = _str(data.get("typeMessage"))
    extra: dict[str, Any] = {"typeMessage": type_message}
    text = _text_of(type_message, data)
    if text is not None:
        marker = _SWE_MARKER.match(text)
        if marker:
            extra["swe"] = marker.group(1)
            text = None
        elif not text.strip():
            text = None
    contact_name = _str(sender.get("senderContactName"))
    if contact_name:
        extra["sender_contact_name"] = contact_name
    phone = sender.get("senderPhoneNumber")
    if phone is not None:
        extra["sender_phone"] = _str(phone)
    reply_to = _reply_to(type_message, data)
    kind = InboundKind.ECHO if echo else InboundKind.MESSAGE
    if type_message == "editedMessage":
        edited = _dict(data.get("editedMessageData"))
        extra["edited_message_id"] = _str(edited.get("stanzaId"))
        if not echo:
            kind = InboundKind.EDIT
    elif type_message == "deletedMessage" and not echo:
        kind = InboundKind.IGNORED
    if echo:
        extra["from_api"] = body.get("typeWebhook") == "outgoingAPIMessageReceived"
    return Inbound(
        kind=kind,
        chat_id=chat_id,
        chat_type=_chat_type(chat_id),
        chat_title=_str(sender.get("chatName")),
        sender_id=_str(sender.get("sender")),
        sender_name=_str(sender.get("senderName")) or contact_name,
        text=text,
        message_id=id_message,
        reply_to=reply_to,
        occurred_at=_time(body.get("timestamp")),
        extra=extra,
    )


def _text_of(type_message: str | None, data: dict[str, Any]) -> str | None:
    if type_message == "textMessage":
        return _str(_dict(data.get("textMessageData")).get("textMessage"))
    if type_message in ("extendedTextMessage", "quotedMessage"):
        return _str(_dict(data.get("extendedTextMessageData")).get("text"))
    if type_message == "editedMessage":
        return _str(_dict(data.get("editedMessageData")).get("textMessage"))
    if type_message in _FILE_TYPES:
        return _str(_dict(data.get("fileMessageData")).get("caption"))
    return None


def _reply_to(type_message: str | None, data: dict[str, Any]) -> str | None:
    quoted = _dict(data.get("quotedMessage")).get("stanzaId")
    if quoted:
        return _str(quoted)
    if type_message == "quotedMessage":
        # the deprecated form keeps the quoted id next to the text
        return _str(_dict(data.get("extendedTextMessageData")).get("stanzaId"))
    return None


def _status(body: dict[str, Any]) -> Inbound:
    id_message = _str(body.get("idMessage"))
    raw = _str(body.get("status"))
    ours = _STATUS_WORDS.get((raw or "").lower())
    if not id_message or ours is None:
        return Inbound(kind=InboundKind.IGNORED, extra={"typeWebhook": "outgoingMessageStatus"})
    extra: dict[str, Any] = {"sendByApi": body.get("sendByApi")}
    if ours != raw:
        extra["reason"] = raw
    description = _str(body.get("description"))
    if description:
        extra["description"] = description
    chat_id = _str(body.get("chatId"))
    return Inbound(
        kind=InboundKind.STATUS,
        chat_id=chat_id,
        chat_type=_chat_type(chat_id),
        status_of=id_message,
        status=ours,
        occurred_at=_time(body.get("timestamp")),
        extra=extra,
    )


def _chat_type(chat_id: str | None) -> str | None:
    if not chat_id:
        return None
    return "group" if chat_id.endswith("@g.us") else "private"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    """Ids arrive as strings or numbers (idInstance is an integer); keep them as opaque text."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return None


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _digest(body: dict[str, Any]) -> str:
    raw = json.dumps(body, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
