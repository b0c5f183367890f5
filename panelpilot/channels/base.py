"""What every channel integration hands to the spine and what it raises when a send fails.

A channel kind (``telegram``, ``greenapi``, ``meta``) provides:
- ``split_events(payload) -> list[RawEvent]``: one webhook body or poll answer into events, each
  with the key that makes it unique within the channel (the inbox dedupes on it);
- ``normalize(raw) -> Inbound``: one stored event into the channel-neutral shape below;
- a client with ``send_text`` that returns the platform's message id or raises ``SendError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class InboundKind(StrEnum):
    MESSAGE = "message"  # a new text (or captioned) message from a person
    EDIT = "edit"  # an edited message: shown in logs, never answered automatically
    CALLBACK = "callback"  # an inline-keyboard button press (Telegram)
    ECHO = "echo"  # our own send reported back (Green API outgoing*, Meta echoes): never answered
    STATUS = "status"  # delivery status of a message we sent (sent, delivered, read, failed)
    MIGRATE = "migrate"  # a Telegram group became a supergroup (either of the two messages)
    MEMBER = "member"  # the bot was blocked/unblocked/kicked/added (my_chat_member)
    STATE = "state"  # account state changed (Green API stateInstanceChanged)
    IGNORED = "ignored"  # anything else: stored, acknowledged, not processed


@dataclass(frozen=True)
class RawEvent:
    """One event cut from a webhook body or poll answer, before normalizing."""

    key: str  # unique per channel account: Telegram update_id, Green API idMessage, Meta id
    payload: dict[str, Any]


@dataclass(frozen=True)
class Inbound:
    """A channel event in one shape for every channel. Ids are opaque strings."""

    kind: InboundKind
    chat_id: str | None = None
    chat_type: str | None = None  # "private" or "group"
    chat_title: str | None = None
    sender_id: str | None = None
    sender_name: str | None = None
    text: str | None = None
    message_id: str | None = None  # the platform's id of this message
    reply_to: str | None = None  # platform id of the message this one quotes/replies to
    callback_id: str | None = None
    callback_data: str | None = None
    mentioned: bool = False  # the bot was @-mentioned (Telegram) in the text
    occurred_at: datetime | None = None
    # STATUS: which of our messages, and its new state (sent/delivered/read/failed)
    status_of: str | None = None
    status: str | None = None
    # MIGRATE: the chat's old and new ids
    migrate_from: str | None = None
    migrate_to: str | None = None
    # MEMBER: "blocked" or "active"; STATE: the account state as the platform names it
    member_state: str | None = None
    account_state: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Button:
    """An inline button: ``data`` comes back as callback data, or ``url`` opens a link."""

    text: str
    data: str | None = None
    url: str | None = None


Keyboard = list[list[Button]]


class SendError(Exception):
    """A send that did not go through.

    ``permanent`` means retrying cannot help (blocked, chat not found, outside the 24-hour
    window, bad request). ``retry_after`` is the platform's asked-for pause in seconds (429).
    ``migrate_to`` is the new chat id when a Telegram group was upgraded to a supergroup.
    ``reason`` is a short stable word for logs and metrics.
    """

    def __init__(
        self,
        reason: str,
        detail: str = "",
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        migrate_to: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.permanent = permanent
        self.retry_after = retry_after
        self.migrate_to = migrate_to
        self.status_code = status_code


# Reasons used by every client, so the outbox and the console can act on them.
BLOCKED = "blocked"  # the person blocked the bot / is not reachable
CHAT_NOT_FOUND = "chat_not_found"
RATE_LIMITED = "rate_limited"
MIGRATED = "migrated"
OUTSIDE_WINDOW = "outside_window"  # Meta: no free-form message 24 h after the person's last one
DISCONNECTED = "disconnected"  # WhatsApp account not authorized / token invalid
BAD_REQUEST = "bad_request"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
NETWORK = "network"
MALFORMED = "malformed"  # the platform answered something we cannot read
