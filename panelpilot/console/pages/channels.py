"""Channels: add a Telegram bot, a Green API instance or a Meta number; see webhook or polling
status and the last update received; reconnect, disable, enable, remove.

Saving calls ``channels.service.set_channel`` and then ``connect``, which tells the platform
where to deliver (setWebhook / setSettings) and records the real outcome on the channel.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from panelpilot.channels import service
from panelpilot.channels.models import ChannelAccount, ChannelKind, ChannelMode, ChannelStatus
from panelpilot.console.access import ConsoleError, WorkspacePage, open_workspace, sentence
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.errors import DomainError, NotFound
from panelpilot.tenancy.service import SLUG_RE
from panelpilot.vault.store import masked, reveal

log = logging.getLogger(__name__)
router = console_router()

# The JSON API's rule for channel keys, so both make the same names; "new" is this console's
# address for the add form.
KEY_RE = SLUG_RE
RESERVED_KEYS = {"new"}


@dataclass(frozen=True)
class KindInfo:
    label: str
    blurb: str
    modes: tuple[str, ...]
    suggested_key: str


KINDS: dict[str, KindInfo] = {
    ChannelKind.TELEGRAM: KindInfo(
        "Telegram bot", "A bot you made with @BotFather: paste its token.",
        (ChannelMode.WEBHOOK, ChannelMode.POLLING), "telegram"),
    ChannelKind.GREENAPI: KindInfo(
        "WhatsApp via Green API", "A WhatsApp number linked to a Green API instance.",
        (ChannelMode.WEBHOOK, ChannelMode.POLLING), "whatsapp"),
    ChannelKind.META: KindInfo(
        "WhatsApp Cloud API (Meta)", "A number of your WhatsApp Business account on Meta's "
        "Cloud API.", (ChannelMode.WEBHOOK,), "whatsapp-cloud"),
}


@dataclass(frozen=True)
class FieldInfo:
    label: str
    help: str
    placeholder: str = ""


FIELDS: dict[str, FieldInfo] = {
    "token": FieldInfo("Bot token", "From @BotFather: /mybots → your bot → API Token.",
                       "123456789:AA…"),
    "id_instance": FieldInfo("Instance id", "idInstance, on the instance's page in Green API.",
                             "1101000001"),
    "api_token": FieldInfo("Instance API token", "apiTokenInstance, on the same page."),
    "api_url": FieldInfo("API host (optional)",
                         "Only if Green API shows your instance its own apiUrl.",
                         "https://7103.api.greenapi.com"),
    "phone_number_id": FieldInfo("Phone number id",
                                 "WhatsApp → API Setup in your Meta app, under the number.",
                                 "1098765432101234"),
    "access_token": FieldInfo("Access token", "A permanent system-user token with the "
                              "whatsapp_business_messaging permission."),
    "app_secret": FieldInfo("App secret", "App settings → Basic. Used to check that each "
                            "webhook call really comes from Meta."),
    "verify_token": FieldInfo("Verify token", "Paste it, with the callback URL, in the app's "
                              "WhatsApp → Configuration → Webhook settings."),
}
MODE_LABELS = {
    ChannelMode.WEBHOOK: "Webhook: the platform calls panelpilot (fastest; needs a public "
                         "https address)",
    ChannelMode.POLLING: "Polling: panelpilot asks for new messages (works behind a firewall)",
}
STATUS_TEXT = {
    ChannelStatus.ACTIVE: "Receiving and sending.",
    ChannelStatus.DISABLED: "Turned off: what arrives is ignored and nothing is sent.",
    ChannelStatus.DISCONNECTED: "The account is not connected: messages are held.",
    ChannelStatus.PROBLEM: "Set-up failed: see the detail.",
}


@dataclass(frozen=True)
class FormField:
    name: str
    info: FieldInfo
    secret: bool
    required: bool
    masked: str | None  # the stored secret's mask, when editing


def form_fields(kind: str, ch: ChannelAccount | None = None) -> list[FormField]:
    secret_fields, plain_fields = service.FIELDS[kind]
    stored = {"app_secret": ch.app_secret, "verify_token": ch.hook_secret} if ch else {}
    main = next(iter(secret_fields))
    out = []
    for name, required in plain_fields.items():
        out.append(FormField(name, FIELDS[name], False, required, None))
    for name, required in secret_fields.items():
        secret = (ch.token if name == main else stored.get(name)) if ch else None
        out.append(FormField(name, FIELDS[name], True, required, masked(secret)))
    return out


async def _channel(page: WorkspacePage, key: str) -> ChannelAccount:
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        try:
            return await service.get_channel(session, key)
        except NotFound:
            raise ConsoleError(404, "Page not found",
                               "This page does not exist, or you do not have access to it."
                               ) from None


def _need_write(page: WorkspacePage) -> None:
    if not page.can_write:
        raise ConsoleError(403, "Not allowed", page.read_only_reason)


def _connect_message(kind: str, mode: str, ok: bool, detail: str, status: str) -> tuple[str, str]:
    if not ok:
        return "error", (f"Saved, but the set-up failed ({detail}). The channel page shows "
                         "what the platform answered.")
    if detail == "disabled":
        return "info", "Saved. The channel is turned off, so nothing was set up."
    if kind == ChannelKind.TELEGRAM:
        bot = f"@{detail}" if detail else "the bot"
        if mode == ChannelMode.WEBHOOK:
            return "success", f"Connected {bot}: Telegram now delivers its messages here."
        return "success", f"Connected {bot}: panelpilot polls Telegram for its messages."
    if kind == ChannelKind.GREENAPI:
        if status == ChannelStatus.DISCONNECTED:
            return "error", (f"Saved, but the WhatsApp instance is not authorized ({detail}). "
                             "Scan the QR code in Green API's console, then press Reconnect.")
        return "success", "Connected: Green API now delivers this number's messages here."
    return "success", ("Saved. Now set the callback URL and verify token below in your Meta "
                       "app's webhook settings.")


async def _connect(page: WorkspacePage, channel_id: int) -> None:
    ctx = page.console.ctx
    try:
        ok, detail = await service.connect(ctx, channel_id)
    except Exception:
        log.exception("channel connect failed unexpectedly")
        await service.set_status(ctx, channel_id, ChannelStatus.PROBLEM,
                                 "set-up failed: unexpected error (see the server log)")
        page.flash("error", "Saved, but the set-up failed with an unexpected error; it was "
                            "logged. Press Reconnect to try again.")
        return
    async with ctx.db.read_session(page.ws.id) as session:
        ch = await session.get(ChannelAccount, channel_id)
        status = ch.status if ch else ""
        kind, mode = (ch.kind, ch.mode) if ch else ("", "")
    page.flash(*_connect_message(kind, mode, ok, detail, status))


@router.get("/w/{slug}/channels")
async def list_channels(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    ctx = page.console.ctx
    async with ctx.db.read_session(page.ws.id) as session:
        views = [service.view(ctx, ch) for ch in await service.list_channels(session)]
    return await render(request, "ws/channels.html", page=page, active="channels",
                        title="Channels", channels=views, kinds=KINDS, status_text=STATUS_TEXT)


async def _form(request: Request, page: WorkspacePage, kind: str, *, status: int = 200,
                errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None) -> Response:
    info = KINDS[kind]
    if values is None:
        async with page.console.ctx.db.read_session(page.ws.id) as session:
            taken = {ch.key for ch in await service.list_channels(session)}
        key = info.suggested_key
        n = 2
        while key in taken:
            key, n = f"{info.suggested_key}-{n}", n + 1
        values = {"key": key, "mode": info.modes[0]}
        if kind == ChannelKind.META:
            # Meta needs the same value on both sides; suggest one the owner can copy.
            values["verify_token"] = secrets.token_urlsafe(24)
    return await render(request, "ws/channel_new.html", status=status, page=page,
                        active="channels", title=f"Add a {info.label}", kind=kind, info=info,
                        fields=form_fields(kind), modes=MODE_LABELS, errors=errors or {},
                        values=values)


@router.get("/w/{slug}/channels/new")
async def new_channel(request: Request, slug: str, type: str = "") -> Response:
    page = await open_workspace(request, slug)
    _need_write(page)
    if type not in KINDS:
        return await render(request, "ws/channel_kinds.html", page=page, active="channels",
                            title="Add a channel", kinds=KINDS)
    return await _form(request, page, type)


def _posted_fields(page: WorkspacePage, kind: str) -> dict[str, Any]:
    secret_fields, plain_fields = service.FIELDS[kind]
    return {name: page.value(name) for name in [*plain_fields, *secret_fields]
            if page.value(name)}


@router.post("/w/{slug}/channels")
async def create_channel(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    ctx = page.console.ctx
    kind = page.value("type")
    if kind not in KINDS:
        raise ConsoleError(422, "Choose a channel type",
                           "Go back to the channels page and pick what you want to add.")
    key = page.value("key").lower()
    mode = page.value("mode") or KINDS[kind].modes[0]
    fields = _posted_fields(page, kind)
    # Secrets are never sent back into a page; the verify token is one the owner must copy.
    values = {"key": key, "mode": mode, **{k: v for k, v in fields.items()
                                           if k not in service.FIELDS[kind][0]
                                           or k == "verify_token"}}
    errors: dict[str, str] = {}
    if not KEY_RE.match(key) or key in RESERVED_KEYS:
        errors["key"] = ("Use 1-63 lower-case letters, digits and dashes (not “new”), "
                         "e.g. telegram-main.")
    channel_id = None
    if not errors:
        try:
            async with ctx.db.session(page.ws.id) as session:
                exists = (await session.execute(
                    select(ChannelAccount.id).where(ChannelAccount.key == key))).scalar()
                if exists is not None:
                    errors["key"] = f"You already have a channel named {key}: pick another name."
                else:
                    ch, _ = await service.set_channel(session, ctx.keyring, page.ws.id, key=key,
                                                      kind=kind, mode=mode, fields=fields)
                    channel_id = ch.id
        except DomainError as exc:
            known = {"key", "mode", *(f.name for f in form_fields(kind))}
            errors[exc.field if exc.field in known else "form"] = sentence(exc.message)
        except IntegrityError:
            errors["key"] = f"You already have a channel named {key}: pick another name."
    if errors or channel_id is None:
        return await _form(request, page, kind, status=422, errors=errors, values=values)
    service.forget(ctx)
    await _connect(page, channel_id)
    return redirect(f"{page.base}/channels/{key}")


async def _detail(request: Request, page: WorkspacePage, ch: ChannelAccount, *,
                  status: int = 200, errors: dict[str, str] | None = None,
                  values: dict[str, str] | None = None) -> Response:
    ctx = page.console.ctx
    view = service.view(ctx, ch)
    verify_token = None
    if ch.kind == ChannelKind.META and ch.hook_secret is not None and page.is_owner:
        # Meta's dashboard needs this exact value next to the callback URL, so owners see it;
        # agents see it masked like every other secret.
        verify_token = reveal(ctx.keyring, ch.hook_secret)
    if values is None:
        values = {"mode": ch.mode, **{k: str(v) for k, v in (ch.config or {}).items()}}
    return await render(request, "ws/channel.html", status=status, page=page,
                        active="channels", title=f"Channel {ch.key}", ch=view,
                        info=KINDS.get(ch.kind), fields=form_fields(ch.kind, ch),
                        modes=MODE_LABELS, status_text=STATUS_TEXT, errors=errors or {},
                        values=values, verify_token=verify_token,
                        disabled=ch.status == ChannelStatus.DISABLED)


@router.get("/w/{slug}/channels/{key}")
async def channel_page(request: Request, slug: str, key: str) -> Response:
    page = await open_workspace(request, slug)
    return await _detail(request, page, await _channel(page, key))


@router.post("/w/{slug}/channels/{key}")
async def update_channel(request: Request, slug: str, key: str) -> Response:
    page = await open_workspace(request, slug)
    ctx = page.console.ctx
    ch = await _channel(page, key)
    mode = page.value("mode") or ch.mode
    fields = _posted_fields(page, ch.kind)
    errors: dict[str, str] = {}
    changed = False
    try:
        async with ctx.db.session(page.ws.id) as session:
            _, changed = await service.set_channel(
                session, ctx.keyring, page.ws.id, key=ch.key, kind=ch.kind, mode=mode,
                fields=fields, enabled=ch.status != ChannelStatus.DISABLED)
    except DomainError as exc:
        known = {"mode", *(f.name for f in form_fields(ch.kind))}
        errors[exc.field if exc.field in known else "form"] = sentence(exc.message)
    if errors:
        values = {"mode": mode, **{k: v for k, v in fields.items()
                                   if k not in service.FIELDS[ch.kind][0]}}
        return await _detail(request, page, ch, status=422, errors=errors, values=values)
    service.forget(ctx)
    if changed:
        await _connect(page, ch.id)
    else:
        page.flash("info", "Nothing changed.")
    return redirect(f"{page.base}/channels/{ch.key}")


def _current_fields(ch: ChannelAccount) -> dict[str, Any]:
    _, plain_fields = service.FIELDS[ch.kind]
    return {name: (ch.config or {}).get(name) for name in plain_fields
            if (ch.config or {}).get(name)}


async def _set_enabled(page: WorkspacePage, ch: ChannelAccount, enabled: bool) -> None:
    ctx = page.console.ctx
    async with ctx.db.session(page.ws.id) as session:
        await service.set_channel(session, ctx.keyring, page.ws.id, key=ch.key, kind=ch.kind,
                                  mode=ch.mode, fields=_current_fields(ch), enabled=enabled)
    service.forget(ctx)


@router.post("/w/{slug}/channels/{key}/connect")
async def reconnect(request: Request, slug: str, key: str) -> Response:
    page = await open_workspace(request, slug)
    ch = await _channel(page, key)
    if ch.status == ChannelStatus.DISABLED:
        page.flash("info", "The channel is turned off: turn it on to connect it.")
    else:
        await _connect(page, ch.id)
    return redirect(f"{page.base}/channels/{ch.key}")


@router.post("/w/{slug}/channels/{key}/disable")
async def disable(request: Request, slug: str, key: str) -> Response:
    page = await open_workspace(request, slug)
    ch = await _channel(page, key)
    await _set_enabled(page, ch, False)
    page.flash("success", f"{ch.key} is turned off: what arrives is ignored and nothing is sent.")
    return redirect(f"{page.base}/channels/{ch.key}")


@router.post("/w/{slug}/channels/{key}/enable")
async def enable(request: Request, slug: str, key: str) -> Response:
    page = await open_workspace(request, slug)
    ch = await _channel(page, key)
    await _set_enabled(page, ch, True)
    await _connect(page, ch.id)
    return redirect(f"{page.base}/channels/{ch.key}")


@router.post("/w/{slug}/channels/{key}/delete")
async def remove(request: Request, slug: str, key: str) -> Response:
    page = await open_workspace(request, slug)
    ctx = page.console.ctx
    ch = await _channel(page, key)
    async with ctx.db.session(page.ws.id) as session:
        row = await service.get_channel(session, ch.key)
        creds = await service.delete_channel(session, ctx.keyring, row)
    service.forget(ctx)
    note = await service.disconnect(ctx, creds)
    page.flash("success", f"Channel {ch.key} and its credentials were removed."
               + (f" ({note})" if note else ""))
    return redirect(f"{page.base}/channels")
