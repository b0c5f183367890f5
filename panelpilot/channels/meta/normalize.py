"""Cut WhatsApp Cloud API webhook bodies into events and turn each event into an ``Inbound``.

One body from Meta can carry several entries, each with several changes, each with several
messages or statuses. ``split_events`` makes one self-contained ``RawEvent`` per item, keeping the
business number's metadata and the sender's contact next to it, so the inbox can dedupe, route and
normalize every item on its own. Nothing in here raises on malformed input.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from panelpilot.channels.base import Inbound, InboundKind, RawEvent

FIELD_MESSAGES = "messages"
FIELD_ECHOES = "smb_message_echoes"

_MEDIA_TYPES = ("image", "video", "document", "audio", "sticker")


def _str(value: Any) -> str | None:
    """A non-empty string form of an id or text field; Meta sends ids as strings, but be lenient."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _time(value: Any) -> datetime | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if seconds != seconds or seconds <= 0:  # NaN or nonsense
        return None
    if seconds > 1e11:  # milliseconds, not seconds
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _digest(*parts: Any) -> str:
    """A stable key for items that carry no id of their own (errors, unknown fields)."""
    raw = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def _coerce(payload: Any) -> Any:
    """Accept the raw request body too: bytes or text holding JSON."""
    if isinstance(payload, bytes | bytearray | str):
        try:
            return json.loads(payload)
        except ValueError:
            return None
    return payload


def _metadata(value: dict[str, Any]) -> dict[str, Any]:
    meta = _dict(value.get("metadata"))
    return {
        "phone_number_id": _str(meta.get("phone_number_id")),
        "display_phone_number": _str(meta.get("display_phone_number")),
    }


def _contact_for(message: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The contact entry of the message's sender; with one contact Meta does not repeat the id."""
    sender = _str(message.get("from"))
    sender_bsuid = _str(message.get("from_user_id"))
    for contact in contacts:
        if sender and _str(contact.get("wa_id")) == sender:
            return contact
        if sender_bsuid and _str(contact.get("user_id")) == sender_bsuid:
            return contact
    return contacts[0] if len(contacts) == 1 else None


def split_events(payload: Any) -> list[RawEvent]:
    """One ``RawEvent`` per message (key: its ``wamid``), per status (key: ``wamid:status``), per
    echo (key: ``wamid:echo``) and one per change of any other kind (key from its content)."""
    payload = _coerce(payload)
    if not isinstance(payload, dict):
        return []
    events: list[RawEvent] = []
    for entry in _dicts(payload.get("entry")):
        waba_id = _str(entry.get("id"))
        for change in _dicts(entry.get("changes")):
            field = _str(change.get("field")) or ""
            value = _dict(change.get("value"))
            base: dict[str, Any] = {
                "object": _str(payload.get("object")),
                "waba_id": waba_id,
                "field": field,
                "metadata": _metadata(value),
            }
            found = _split_change(field, value, base)
            if not found:
                key = f"{field or 'change'}:{_digest(waba_id, field, value)}"
                found = [RawEvent(key=key, payload={**base, "value": value})]
            events.extend(found)
    return events


def _split_change(field: str, value: dict[str, Any], base: dict[str, Any]) -> list[RawEvent]:
    events: list[RawEvent] = []
    if field == FIELD_MESSAGES:
        contacts = _dicts(value.get("contacts"))
        for message in _dicts(value.get("messages")):
            key = _str(message.get("id")) or f"message:{_digest(message)}"
            item = {**base, "contact": _contact_for(message, contacts), "message": message}
            events.append(RawEvent(key=key, payload=item))
        for status in _dicts(value.get("statuses")):
            status_id = _str(status.get("id")) or f"status:{_digest(status)}"
            state = (_str(status.get("status")) or "unknown").lower()
            events.append(RawEvent(key=f"{status_id}:{state}", payload={**base, "status": status}))
        for error in _dicts(value.get("errors")):
            events.append(RawEvent(key=f"error:{_digest(error)}", payload={**base, "error": error}))
    elif field == FIELD_ECHOES:
        for echo in _dicts(value.get("message_echoes")):
            echo_id = _str(echo.get("id")) or _digest(echo)
            events.append(RawEvent(key=f"{echo_id}:echo", payload={**base, "echo": echo}))
    return events


def phone_number_id_of(payload: Any) -> str | None:
    """The business phone number id a webhook body (or one split event) is addressed to."""
    payload = _coerce(payload)
    if not isinstance(payload, dict):
        return None
    if "metadata" in payload:
        return _str(_dict(payload.get("metadata")).get("phone_number_id"))
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            found = _metadata(_dict(change.get("value")))["phone_number_id"]
            if found:
                return found
    return None


def normalize(payload: Any) -> Inbound:
    """One split event (or, for convenience, a whole body: its first event) as an ``Inbound``."""
    try:
        return _normalize(payload)
    except Exception as exc:
        # A shape nobody foresaw must not stall the inbox: keep it, mark it, move on.
        return Inbound(kind=InboundKind.IGNORED, extra={"malformed": type(exc).__name__})


def _normalize(payload: Any) -> Inbound:
    payload = _coerce(payload)
    if not isinstance(payload, dict):
        return Inbound(kind=InboundKind.IGNORED, extra={"malformed": "not an object"})
    if "entry" in payload:
        events = split_events(payload)
        if not events:
            return Inbound(kind=InboundKind.IGNORED, extra={"malformed": "no events"})
        return _normalize(events[0].payload)
    if isinstance(payload.get("message"), dict):
        return _message(payload)
    if isinstance(payload.get("status"), dict):
        return _status(payload)
    if isinstance(payload.get("echo"), dict):
        return _echo(payload)
    extra = _base_extra(payload)
    if isinstance(payload.get("error"), dict):
        extra["errors"] = [payload["error"]]
    return Inbound(kind=InboundKind.IGNORED, extra=extra)


def _base_extra(payload: dict[str, Any]) -> dict[str, Any]:
    metadata = _dict(payload.get("metadata"))
    extra: dict[str, Any] = {"field": _str(payload.get("field"))}
    for key in ("phone_number_id", "display_phone_number"):
        if _str(metadata.get(key)):
            extra[key] = _str(metadata.get(key))
    if _str(payload.get("waba_id")):
        extra["waba_id"] = _str(payload.get("waba_id"))
    return extra


def _message(payload: dict[str, Any]) -> Inbound:
    message = payload["message"]
    contact = _dict(payload.get("contact"))
    profile = _dict(contact.get("profile"))
    context = _dict(message.get("context"))
    mtype = _str(message.get("type")) or "unknown"

    # wa_id is usually the phone number, but users with a username may come with only a
    # business-scoped user id (BSUID); both are opaque strings for us.
    sender = (
        _str(message.get("from"))
        or _str(contact.get("wa_id"))
        or _str(message.get("from_user_id"))
        or _str(contact.get("user_id"))
    )
    group_id = _str(message.get("group_id"))

    extra = _base_extra(payload)
    extra["type"] = mtype
    for source, key, target in (
        (contact, "user_id", "user_id"),
        (contact, "parent_user_id", "parent_user_id"),
        (message, "from_user_id", "user_id"),
        (message, "from_parent_user_id", "parent_user_id"),
        (profile, "username", "username"),
        (contact, "wa_id", "wa_id"),
    ):
        if _str(source.get(key)) and target not in extra:
            extra[target] = _str(source.get(key))
    if context.get("forwarded") or context.get("frequently_forwarded"):
        extra["forwarded"] = True
    for key in ("referral", "errors"):
        if key in message:
            extra[key] = message[key]

    kind = InboundKind.MESSAGE
    text: str | None = None
    callback_data: str | None = None
    reply_to = _str(context.get("id"))

    if mtype == "text":
        text = _text(_dict(message.get("text")).get("body"))
    elif mtype == "interactive":
        interactive = _dict(message.get("interactive"))
        itype = _str(interactive.get("type"))
        extra["interactive"] = itype
        if itype in ("button_reply", "list_reply"):
            reply = _dict(interactive.get(itype))
            callback_data = _str(reply.get("id"))
            text = _text(reply.get("title"))
            if _str(reply.get("description")):
                extra["description"] = reply["description"]
        elif itype == "nfm_reply":
            flow = _dict(interactive.get("nfm_reply"))
            extra["flow_response"] = flow.get("response_json")
    elif mtype == "button":
        # A quick-reply button of a template message: payload is ours, text is the label.
        button = _dict(message.get("button"))
        callback_data = _str(button.get("payload"))
        text = _text(button.get("text"))
    elif mtype in _MEDIA_TYPES:
        media = _dict(message.get(mtype))
        text = _text(media.get("caption"))
        for key in ("id", "mime_type", "filename"):
            if _str(media.get(key)):
                extra[f"media_{key}"] = media[key]
    elif mtype == "reaction":
        reaction = _dict(message.get("reaction"))
        extra["reaction"] = {
            "message_id": _str(reaction.get("message_id")),
            "emoji": _str(reaction.get("emoji")),
        }
    elif mtype == "location":
        extra["location"] = _dict(message.get("location"))
    elif mtype == "system":
        # e.g. user_changed_number: carries the new wa_id, an alias to record, not a message.
        kind = InboundKind.IGNORED
        extra["system"] = _dict(message.get("system"))
    elif mtype == "edit":
        kind = InboundKind.EDIT
        edit = _dict(message.get("edit"))
        inner = _dict(edit.get("message"))
        text = _text(_dict(inner.get("text")).get("body")) or _text(
            _dict(edit.get("text")).get("body")
        )
        edited = _str(edit.get("original_message_id")) or _str(edit.get("message_id"))
        if edited:
            extra["edited_message_id"] = edited
    elif mtype == "revoke":
        kind = InboundKind.IGNORED

    return Inbound(
        kind=kind,
        chat_id=group_id or sender,
        chat_type="group" if group_id else "private",
        sender_id=sender,
        sender_name=_str(profile.get("name")),
        text=text,
        message_id=_str(message.get("id")),
        reply_to=reply_to,
        callback_data=callback_data,
        occurred_at=_time(message.get("timestamp")),
        extra=extra,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _status(payload: dict[str, Any]) -> Inbound:
    status = payload["status"]
    extra = _base_extra(payload)
    for key in (
        "recipient_id",
        "recipient_user_id",
        "recipient_parent_user_id",
        "recipient_type",
        "recipient_participant_id",
        "biz_opaque_callback_data",
        "conversation",
        "pricing",
    ):
        if key in status:
            extra[key] = status[key]
    errors = _dicts(status.get("errors"))
    if errors:
        first = errors[0]
        extra["errors"] = errors
        code = first.get("code")
        extra["error_code"] = code if isinstance(code, int) else _int(code)
        extra["error_title"] = _str(first.get("title")) or _str(first.get("message"))
        extra["error_details"] = _str(_dict(first.get("error_data")).get("details"))
    group = _str(status.get("recipient_type")) == "group"
    state = _str(status.get("status"))
    return Inbound(
        kind=InboundKind.STATUS,
        chat_id=_str(status.get("recipient_id")) or _str(status.get("recipient_user_id")),
        chat_type="group" if group else "private",
        status_of=_str(status.get("id")),
        status=state.lower() if state else None,
        occurred_at=_time(status.get("timestamp")),
        extra=extra,
    )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _echo(payload: dict[str, Any]) -> Inbound:
    echo = payload["echo"]
    etype = _str(echo.get("type")) or "unknown"
    content = _dict(echo.get(etype))
    text = _text(content.get("body")) if etype == "text" else _text(content.get("caption"))
    extra = _base_extra(payload)
    extra["type"] = etype
    return Inbound(
        kind=InboundKind.ECHO,
        chat_id=_str(echo.get("to")),
        chat_type="private",
        sender_id=_str(echo.get("from")),
        text=text,
        message_id=_str(echo.get("id")),
        occurred_at=_time(echo.get("timestamp")),
        extra=extra,
    )
