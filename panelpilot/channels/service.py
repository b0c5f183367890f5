"""Add, change, remove and connect channel accounts; load their credentials for the spine."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.base import SendError
from panelpilot.channels.drivers import ChannelCreds, driver_for
from panelpilot.channels.models import ChannelAccount, ChannelKind, ChannelMode, ChannelStatus
from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.errors import Invalid, NotFound
from panelpilot.vault.crypto import Keyring
from panelpilot.vault.store import masked, put_secret, reveal

log = logging.getLogger(__name__)
CACHE_SECONDS = 5.0

# What each kind needs: (secret fields, plain fields), required ones first in each.
FIELDS: dict[str, tuple[dict[str, bool], dict[str, bool]]] = {
    "telegram": ({"token": True}, {}),
    "greenapi": ({"api_token": True}, {"id_instance": True, "api_url": False}),
    "meta": ({"access_token": True, "app_secret": True, "verify_token": False},
             {"phone_number_id": True}),
}


def webhook_url(ctx: Context, kind: str, public_id: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/hooks/{kind}/{public_id}"


@dataclass
class ChannelView:
    key: str
    type: str
    mode: str
    status: str
    status_detail: str
    webhook_url: str
    config: dict[str, Any]
    token: str | None
    last_update_at: str | None
    webhook_set_at: str | None


def view(ctx: Context, ch: ChannelAccount) -> ChannelView:
    return ChannelView(
        key=ch.key, type=ch.kind, mode=ch.mode, status=ch.status, status_detail=ch.status_detail,
        webhook_url=webhook_url(ctx, ch.kind, ch.public_id),
        config={k: v for k, v in (ch.config or {}).items()},
        token=masked(ch.token),
        last_update_at=ch.last_update_at.isoformat() if ch.last_update_at else None,
        webhook_set_at=ch.webhook_set_at.isoformat() if ch.webhook_set_at else None,
    )


async def list_channels(session: AsyncSession) -> list[ChannelAccount]:
    return list((await session.execute(select(ChannelAccount).order_by(ChannelAccount.key)))
                .scalars())


async def get_channel(session: AsyncSession, key: str) -> ChannelAccount:
    ch = (await session.execute(select(ChannelAccount).where(ChannelAccount.key == key))).scalar()
    if ch is None:
        raise NotFound(f"no channel {key!r}")
    return ch


def _check(kind: str, mode: str, fields: dict[str, Any], creating: bool) -> None:
    if kind not in FIELDS:
        raise Invalid(f"channel type is one of: {', '.join(FIELDS)}", field="type")
    if mode not in (ChannelMode.WEBHOOK, ChannelMode.POLLING):
        raise Invalid("mode is webhook or polling", field="mode")
    if kind == ChannelKind.META and mode == ChannelMode.POLLING:
        raise Invalid("Meta Cloud API has no polling: use mode webhook", field="mode")
    secret_fields, plain_fields = FIELDS[kind]
    known = set(secret_fields) | set(plain_fields)
    for name in fields:
        if name not in known:
            raise Invalid(f"{kind} channels have no field {name!r}", field=name)
    for name, required in {**secret_fields, **plain_fields}.items():
        if required and not fields.get(name) and (creating or name in plain_fields):
            raise Invalid(f"{name} is required for a {kind} channel", field=name)


async def set_channel(
    session: AsyncSession, keyring: Keyring, workspace_id: int, *, key: str, kind: str,
    mode: str = "webhook", fields: dict[str, Any], enabled: bool = True,
) -> tuple[ChannelAccount, bool]:
    """Create or update the channel ``key``; returns it and whether its connection changed.

    Secret fields left empty keep their stored value.
    """
    existing = (await session.execute(select(ChannelAccount).where(ChannelAccount.key == key))
                ).scalar()
    _check(kind, mode, fields, existing is None)
    secret_fields, plain_fields = FIELDS[kind]
    config = {name: str(fields[name]) for name in plain_fields if fields.get(name)}
    if existing is not None and existing.kind != kind:
        raise Invalid(f"channel {key!r} is a {existing.kind} channel; remove it to change type",
                      field="type")
    changed = False
    ch = existing
    main_secret = next(iter(secret_fields))
    if ch is None:
        token = await put_secret(session, keyring, workspace_id=workspace_id,
                                 purpose=f"channel.{key}.{main_secret}",
                                 value=str(fields[main_secret]))
        ch = ChannelAccount(workspace_id=workspace_id, public_id=secrets.token_urlsafe(16),
                            key=key, kind=kind, mode=mode, config={}, token_id=token.id,
                            token=token, status=ChannelStatus.ACTIVE, status_detail="")
        session.add(ch)
        changed = True
    elif fields.get(main_secret):
        before = ch.token.ciphertext
        await put_secret(session, keyring, workspace_id=workspace_id,
                         purpose=f"channel.{key}.{main_secret}",
                         value=str(fields[main_secret]), existing=ch.token)
        changed = changed or before != ch.token.ciphertext
    # The secret we make (Telegram secret_token, Green API webhookUrlToken) or Meta's verify
    # token, which the owner may choose.
    hook_value = fields.get("verify_token") or (
        None if ch.hook_secret is not None else secrets.token_urlsafe(32))
    if hook_value:
        before_hook = ch.hook_secret.ciphertext if ch.hook_secret else None
        hook = await put_secret(session, keyring, workspace_id=workspace_id,
                                purpose=f"channel.{key}.hook", value=str(hook_value),
                                existing=ch.hook_secret)
        ch.hook_secret, ch.hook_secret_id = hook, hook.id
        changed = changed or before_hook != hook.ciphertext
    if fields.get("app_secret"):
        before_app = ch.app_secret.ciphertext if ch.app_secret else None
        app = await put_secret(session, keyring, workspace_id=workspace_id,
                               purpose=f"channel.{key}.app_secret", value=str(fields["app_secret"]),
                               existing=ch.app_secret)
        ch.app_secret, ch.app_secret_id = app, app.id
        changed = changed or before_app != app.ciphertext
    merged = {**{k: v for k, v in (ch.config or {}).items() if k not in plain_fields}, **config}
    if merged != (ch.config or {}):
        ch.config = merged
        changed = True
    if ch.mode != mode:
        ch.mode = mode
        changed = True
    route_key = config.get("phone_number_id") if kind == ChannelKind.META else None
    if ch.route_key != route_key:
        ch.route_key = route_key
    wanted = ChannelStatus.ACTIVE if enabled else ChannelStatus.DISABLED
    if (ch.status == ChannelStatus.DISABLED) == enabled:  # enabling or disabling
        ch.status, ch.status_detail = wanted, ""
        changed = True
    await session.flush()
    return ch, changed


async def delete_channel(session: AsyncSession, keyring: Keyring,
                         ch: ChannelAccount) -> ChannelCreds:
    """Remove the channel and its secrets; returns its credentials as they were, for
    ``disconnect`` once the removal is committed."""
    creds = creds_of(keyring, ch)
    secrets_ = [ch.token, ch.hook_secret, ch.app_secret]
    await session.delete(ch)
    await session.flush()
    for secret in secrets_:
        if secret is not None:
            await session.delete(secret)
    return creds


async def disconnect(ctx: Context, creds: ChannelCreds) -> str:
    """After a channel's removal is committed: stop the platform posting to its webhook
    (Telegram deleteWebhook, Green API setSettings with an empty URL), when it still posts
    there. Best effort: a platform that cannot be reached is noted, not retried (its posts are
    answered 404 and it gives up)."""
    if creds.mode != ChannelMode.WEBHOOK:
        return ""
    try:
        changed = await driver_for(creds.kind).teardown(
            ctx, creds, webhook_url(ctx, creds.kind, creds.public_id))
    except SendError as exc:
        log.warning("channel tear-down failed", extra={"channel": creds.key,
                                                       "reason": exc.reason})
        return f"channel {creds.key}: webhook not removed ({exc.reason})"
    return f"channel {creds.key}: webhook removed" if changed else ""


def creds_of(keyring: Keyring, ch: ChannelAccount) -> ChannelCreds:
    return ChannelCreds(
        id=ch.id, workspace_id=ch.workspace_id, public_id=ch.public_id, key=ch.key, kind=ch.kind,
        mode=ch.mode, status=ch.status, config=dict(ch.config or {}),
        token=reveal(keyring, ch.token),
        hook_secret=reveal(keyring, ch.hook_secret) if ch.hook_secret else None,
        app_secret=reveal(keyring, ch.app_secret) if ch.app_secret else None,
    )


def _cache(ctx: Context) -> dict[Any, tuple[float, ChannelCreds | None]]:
    cache: dict[Any, tuple[float, ChannelCreds | None]] = ctx.singleton("channel_cache", dict)
    return cache


def forget(ctx: Context) -> None:
    """Drop cached credentials (after a change in this process)."""
    _cache(ctx).clear()


async def load_creds(
    ctx: Context, *, channel_id: int | None = None, public_id: str | None = None,
    meta_number: str | None = None, fresh: bool = False,
) -> ChannelCreds | None:
    """A channel's decrypted credentials, cached for a few seconds (webhooks are the hot path)."""
    cache_key = (channel_id, public_id, meta_number)
    cache = _cache(ctx)
    hit = cache.get(cache_key)
    now = time.monotonic()
    if hit is not None and hit[0] > now and not fresh:
        return hit[1]
    query = select(ChannelAccount)
    if channel_id is not None:
        query = query.where(ChannelAccount.id == channel_id)
    elif public_id is not None:
        query = query.where(ChannelAccount.public_id == public_id)
    else:
        query = query.where(ChannelAccount.kind == ChannelKind.META,
                            ChannelAccount.route_key == meta_number)
    async with ctx.db.read_session() as session:
        ch = (await session.execute(query.limit(1))).scalar()
        creds = creds_of(ctx.keyring, ch) if ch is not None else None
    if len(cache) > 10_000:
        cache.clear()
    cache[cache_key] = (now + CACHE_SECONDS, creds)
    return creds


async def set_status(ctx: Context, channel_id: int, status: str, detail: str = "") -> None:
    async with ctx.db.platform_session() as session:
        ch = await session.get(ChannelAccount, channel_id)
        if ch is not None and (ch.status != status or ch.status_detail != detail[:500]):
            if ch.status == ChannelStatus.DISABLED and status != ChannelStatus.DISABLED:
                return  # the owner's "off" wins over anything the platform reports
            ch.status, ch.status_detail = status, detail[:500]
    forget(ctx)


async def connect(ctx: Context, channel_id: int) -> tuple[bool, str]:
    """Tell the platform where to deliver (setWebhook / setSettings) and record the result."""
    creds = await load_creds(ctx, channel_id=channel_id, fresh=True)
    if creds is None:
        raise NotFound("no such channel")
    if creds.status == ChannelStatus.DISABLED:
        return True, "disabled"
    driver = driver_for(creds.kind)
    try:
        detail = await driver.setup(ctx, creds, webhook_url(ctx, creds.kind, creds.public_id))
    except SendError as exc:
        log.warning("channel set-up failed", extra={"channel": creds.key, "reason": exc.reason})
        await set_status(ctx, channel_id, ChannelStatus.PROBLEM,
                         f"set-up failed: {exc.reason} {exc.detail}".strip())
        return False, exc.reason
    async with ctx.db.platform_session() as session:
        ch = await session.get(ChannelAccount, channel_id)
        if ch is not None:
            if creds.kind == ChannelKind.TELEGRAM and detail:
                ch.config = {**(ch.config or {}), "bot_username": detail}
            if creds.mode == ChannelMode.WEBHOOK:
                ch.webhook_set_at = utcnow()
            if ch.status != ChannelStatus.DISABLED:
                ch.status, ch.status_detail = ChannelStatus.ACTIVE, ""
                if creds.kind == ChannelKind.GREENAPI and detail and detail != "authorized":
                    ch.status = ChannelStatus.DISCONNECTED
                    ch.status_detail = f"WhatsApp instance state: {detail}"
    forget(ctx)
    return True, detail
