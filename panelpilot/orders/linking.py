"""Linking chats to panel usernames: by admins (file, API, support chat) or by the customer with
a one-time code delivered as a panel ticket.

The code proves the chat belongs to whoever can read that username's tickets in the panel. It is
6 digits, valid 5 minutes, single use; 3 wrong tries lock the chat out for a while. The chat is
told the same thing whether or not the username exists, so nobody can probe for usernames.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.chats import service as chats
from panelpilot.chats.models import Chat, ChatRole
from panelpilot.db.base import utcnow
from panelpilot.errors import Invalid
from panelpilot.orders.models import LinkChallenge, LinkedChat, SupportChat
from panelpilot.runners.lease import insert_ignore

CODE_TTL = timedelta(minutes=5)
MAX_TRIES = 3
COOL_OFF = timedelta(minutes=15)
REQUESTS_PER_HOUR = 5  # link requests per chat: each opens a ticket on someone's account
USERNAME_MAX = 100


# --- chats as admins name them ------------------------------------------------------------------


def normalize_chat_id(kind: str, chat_id: str | int) -> str:
    """The platform's id as stored: WhatsApp numbers get ``@c.us``, ``+`` and spaces go."""
    text = str(chat_id).strip()
    if kind == "greenapi":
        if "@" not in text:
            digits = text.lstrip("+").replace(" ", "").replace("-", "")
            return f"{digits}@c.us" if digits.isdigit() else text
        return text
    if kind == "meta":
        return text.lstrip("+").replace(" ", "").replace("-", "")
    return text


def chat_type_of(kind: str, chat_id: str) -> str:
    if kind == "telegram":
        return "group" if chat_id.startswith("-") else "private"
    if kind == "greenapi":
        return "group" if chat_id.endswith("@g.us") else "private"
    return "private"


async def chat_for(session: AsyncSession, workspace_id: int, channel_id: int, kind: str,
                   chat_id: str | int) -> Chat:
    """The chat with this id on this channel, remembered now if it never wrote yet."""
    chat_id = normalize_chat_id(kind, chat_id)
    chat = await chats.find(session, channel_id, chat_id)
    if chat is None:
        await insert_ignore(session, Chat, {
            "workspace_id": workspace_id, "channel_id": channel_id, "chat_id": chat_id,
            "chat_type": chat_type_of(kind, chat_id), "role": ChatRole.UNKNOWN, "title": "",
            "reachable": True, "unreachable_reason": "", "created_at": utcnow()})
        chat = await chats.find(session, channel_id, chat_id)
        assert chat is not None
    return chat


def check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > USERNAME_MAX or any(c.isspace() for c in name):
        raise Invalid("a panel username is 1-100 characters without spaces", field="username")
    return name


# --- admin linking ------------------------------------------------------------------------------


async def linked_username(session: AsyncSession, chat_pk: int) -> str | None:
    return (await session.execute(
        select(LinkedChat.username).where(LinkedChat.chat_pk == chat_pk))).scalar()


async def link(session: AsyncSession, workspace_id: int, chat: Chat, username: str, *,
               source: str, by: str = "") -> bool:
    """Link ``chat`` to ``username`` (replacing an earlier link); returns whether it changed."""
    username = check_username(username)
    if chat.role in (ChatRole.SUPPORT, ChatRole.PROVIDER_GROUP):
        raise Invalid(f"chat {chat.chat_id} is a {chat.role.replace('_', ' ')} chat and can not "
                      "be linked to a customer", field="chat")
    row = (await session.execute(
        select(LinkedChat).where(LinkedChat.chat_pk == chat.id))).scalar()
    changed = False
    if row is None:
        session.add(LinkedChat(workspace_id=workspace_id, chat_pk=chat.id, username=username,
                               source=source, linked_by=by[:200], created_at=utcnow()))
        changed = True
    elif row.username != username or row.source != source:
        changed = row.username != username
        row.username, row.source, row.linked_by = username, source, by[:200]
        row.created_at = utcnow() if changed else row.created_at
    role = ChatRole.CUSTOMER_GROUP if chat.chat_type == "group" else ChatRole.CUSTOMER
    if chat.role != role:
        chat.role = role
    await session.flush()
    return changed


async def unlink(session: AsyncSession, chat: Chat) -> str | None:
    """Remove the chat's link; returns the username it had, or None."""
    row = (await session.execute(
        select(LinkedChat).where(LinkedChat.chat_pk == chat.id))).scalar()
    if row is None:
        return None
    username = row.username
    await session.delete(row)
    if chat.role in (ChatRole.CUSTOMER, ChatRole.CUSTOMER_GROUP):
        chat.role = ChatRole.UNKNOWN
    await session.flush()
    return username


async def make_support(session: AsyncSession, workspace_id: int, chat: Chat, *,
                       fallback: bool, source: str) -> bool:
    """Make ``chat`` a support chat; returns whether anything changed."""
    if chat.role == ChatRole.PROVIDER_GROUP:
        raise Invalid(f"chat {chat.chat_id} is a provider group", field="chat")
    changed = False
    if await linked_username(session, chat.id) is not None:
        await unlink(session, chat)
        changed = True
    row = (await session.execute(
        select(SupportChat).where(SupportChat.chat_pk == chat.id))).scalar()
    if row is None:
        session.add(SupportChat(workspace_id=workspace_id, chat_pk=chat.id, fallback=fallback,
                                source=source, created_at=utcnow()))
        changed = True
    elif row.fallback != fallback or row.source != source:
        changed = changed or row.fallback != fallback
        row.fallback, row.source = fallback, source
    if fallback:
        # One fallback group per workspace: the newest one wins.
        await session.execute(update(SupportChat).where(SupportChat.chat_pk != chat.id)
                              .values(fallback=False)
                              .execution_options(synchronize_session=False))
    if chat.role != ChatRole.SUPPORT:
        chat.role = ChatRole.SUPPORT
        changed = True
    await session.flush()
    return changed


async def drop_support(session: AsyncSession, row: SupportChat) -> None:
    chat = await session.get(Chat, row.chat_pk)
    await session.delete(row)
    if chat is not None and chat.role == ChatRole.SUPPORT:
        chat.role = ChatRole.UNKNOWN
    await session.flush()


# --- one-time codes -----------------------------------------------------------------------------


def new_code() -> str:
    # No leading zero: the code reads the same however a keyboard or a client trims it.
    return str(100000 + secrets.randbelow(900000))


def code_hash(code: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


@dataclass
class LinkState:
    """What a chat's earlier link requests allow now."""

    locked_until: datetime | None
    recent_requests: int
    oldest_recent: datetime | None


async def link_state(session: AsyncSession, chat_pk: int, now: datetime) -> LinkState:
    locked = (await session.execute(
        select(func.max(LinkChallenge.locked_until)).where(
            LinkChallenge.chat_pk == chat_pk, LinkChallenge.locked_until > now))).scalar()
    hour_ago = now - timedelta(hours=1)
    count, oldest = (await session.execute(
        select(func.count(), func.min(LinkChallenge.created_at)).where(
            LinkChallenge.chat_pk == chat_pk, LinkChallenge.created_at > hour_ago))).one()
    return LinkState(locked, int(count or 0), oldest)


async def latest_challenge(session: AsyncSession, chat_pk: int) -> LinkChallenge | None:
    return (await session.execute(
        select(LinkChallenge).where(LinkChallenge.chat_pk == chat_pk)
        .order_by(LinkChallenge.created_at.desc(), LinkChallenge.id.desc()).limit(1))).scalar()


@dataclass
class CodeCheck:
    """The outcome of a code sent in chat: done | wrong | locked | expired | none."""

    result: str
    username: str = ""
    tries_left: int = 0
    challenge_id: int | None = None
    attempts: int = 0


def check_code(challenge: LinkChallenge | None, code: str, now: datetime) -> CodeCheck:
    if challenge is None:
        return CodeCheck("none")
    if challenge.locked_until is not None and challenge.locked_until > now:
        return CodeCheck("locked", challenge.username, 0, challenge.id, challenge.attempts)
    if challenge.used_at is not None or challenge.expires_at <= now:
        return CodeCheck("expired", challenge.username, 0, challenge.id, challenge.attempts)
    good = challenge.delivered and hmac.compare_digest(
        code_hash(code, challenge.salt), challenge.code_hash)
    if good:
        return CodeCheck("done", challenge.username, 0, challenge.id, challenge.attempts)
    attempts = challenge.attempts + 1
    if attempts >= MAX_TRIES:
        return CodeCheck("locked", challenge.username, 0, challenge.id, attempts)
    return CodeCheck("wrong", challenge.username, MAX_TRIES - attempts, challenge.id, attempts)


async def save_challenge(session: AsyncSession, workspace_id: int, chat_pk: int, username: str,
                         code: str, *, delivered: bool, ticket_id: str | None,
                         now: datetime) -> None:
    # A new request replaces any earlier code of this chat.
    await session.execute(
        update(LinkChallenge)
        .where(LinkChallenge.chat_pk == chat_pk, LinkChallenge.used_at.is_(None),
               LinkChallenge.expires_at > now)
        .values(expires_at=now).execution_options(synchronize_session=False))
    salt = secrets.token_hex(8)
    session.add(LinkChallenge(
        workspace_id=workspace_id, chat_pk=chat_pk, username=username[:USERNAME_MAX],
        code_hash=code_hash(code, salt), salt=salt, delivered=delivered, ticket_id=ticket_id,
        attempts=0, expires_at=now + CODE_TTL, created_at=now))


async def record_code(session: AsyncSession, workspace_id: int, chat: Chat, result: CodeCheck,
                      now: datetime) -> bool:
    """Write what a code check decided; False if the code was used meanwhile (no link)."""
    if result.challenge_id is None:
        return False
    if result.result == "done":
        used = await session.execute(
            update(LinkChallenge)
            .where(LinkChallenge.id == result.challenge_id, LinkChallenge.used_at.is_(None))
            .values(used_at=now).execution_options(synchronize_session=False))
        if getattr(used, "rowcount", 0) != 1:
            return False
        await link(session, workspace_id, chat, result.username, source="self",
                   by="one-time code")
        return True
    if result.result in ("wrong", "locked") and result.attempts:
        values: dict[str, object] = {"attempts": result.attempts}
        if result.result == "locked":
            values["locked_until"] = now + COOL_OFF
        await session.execute(
            update(LinkChallenge).where(LinkChallenge.id == result.challenge_id,
                                        LinkChallenge.locked_until.is_(None))
            .values(**values).execution_options(synchronize_session=False))
    return False
