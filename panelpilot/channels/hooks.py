"""Webhook endpoints: authenticate, store the events in one insert, answer 2xx at once.

Routed by the channel's opaque public id, never by a token. A request that fails
authentication gets 401 and stores nothing; once authenticated, every request gets a 2xx,
whatever it carries (platforms stall a bot's whole queue on 5xx answers). Work happens later,
in the inbox workers.

This is the hot path, so it is served by a small ASGI middleware in front of FastAPI's
routing and dependency machinery (``HooksMiddleware``), not by FastAPI routes.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from panelpilot.channels.base import RawEvent
from panelpilot.channels.drivers import ChannelCreds, driver_for
from panelpilot.channels.models import ChannelStatus
from panelpilot.channels.service import load_creds
from panelpilot.inbox.ingest import store
from panelpilot.web.auth import context
from panelpilot.web.errors import error_body

log = logging.getLogger(__name__)
OK_BODY = b""
_last_warned: dict[str, float] = {}


def _warn_once(what: str, key: str, **extra: Any) -> None:
    """Log a rejected webhook at most every 10 s per channel: floods must not flood the logs."""
    now = time.monotonic()
    if now - _last_warned.get(key, 0.0) >= 10.0:
        _last_warned[key] = now
        log.warning(what, extra=extra)


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


async def _receive(ctx: Any, kind: str, public_id: str, headers: dict[str, str],
                   body: bytes) -> int:
    """Authenticate and store one webhook request; the status to answer with."""
    creds = await load_creds(ctx, public_id=public_id)
    if creds is None or creds.kind != kind:
        return 401
    driver = driver_for(kind)
    if not driver.authenticate(headers, body, creds):
        _warn_once("webhook failed authentication", f"auth:{creds.id}", channel=creds.key)
        return 401
    if creds.status == ChannelStatus.DISABLED:
        return 200
    payload = _parse(body)
    if payload is None:
        _warn_once("webhook body is not JSON; dropped", f"json:{creds.id}", channel=creds.key)
        return 200
    events = driver.split(payload, creds)
    if kind == "meta":
        await _store_meta(ctx, creds, events)
    elif events:
        await store(ctx, creds, events)
    return 200


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


_UNAUTHORIZED = json.dumps(error_body(401, "not authenticated")).encode()


async def _answer(send: Send, status: int) -> None:
    # Sent as bare ASGI messages: this is the hot path, and the answer is always the same.
    body = _UNAUTHORIZED if status == 401 else OK_BODY
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _store_meta(ctx: Any, creds: ChannelCreds, events: list[RawEvent]) -> None:
    """One Meta app may serve several numbers: each event goes to its number's channel."""
    from panelpilot.channels.meta.normalize import phone_number_id_of

    by_channel: dict[int, tuple[ChannelCreds, list[RawEvent]]] = {}
    for event in events:
        number = phone_number_id_of(event.payload)
        target = creds
        if number and number != creds.config.get("phone_number_id"):
            other = await load_creds(ctx, meta_number=number)
            # Only a number whose app secret signed this request may receive its events.
            if other is None or not other.app_secret or not creds.app_secret or \
                    not hmac.compare_digest(other.app_secret, creds.app_secret):
                log.warning("Meta event for an unknown number dropped")
                continue
            target = other
        by_channel.setdefault(target.id, (target, []))[1].append(event)
    for target, batch in by_channel.values():
        await store(ctx, target, batch)


async def meta_verify(request: Request, public_id: str) -> Response:
    """Meta's subscription handshake: echo hub.challenge when the verify token matches."""
    ctx = context(request)
    creds = await load_creds(ctx, public_id=public_id)
    params = request.query_params
    token = params.get("hub.verify_token", "")
    if (creds is None or creds.kind != "meta" or params.get("hub.mode") != "subscribe"
            or not creds.hook_secret
            or not hmac.compare_digest(token.encode(), creds.hook_secret.encode())):
        return PlainTextResponse("verification failed", status_code=403)
    return PlainTextResponse(params.get("hub.challenge", ""))


@dataclass(frozen=True)
class _Route:
    """What the metrics middleware reads as the route template."""

    path: str


PATH = re.compile(r"^/hooks/(telegram|greenapi|meta)/([A-Za-z0-9_-]{1,64})/?$")


class HooksMiddleware:
    """Serve ``/hooks/{kind}/{public_id}`` directly; pass everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/hooks/"):
            await self.app(scope, receive, send)
            return
        match = PATH.match(scope["path"])
        method = scope["method"]
        if match is None:
            response: Response = JSONResponse(error_body(404, "not found"), status_code=404)
        else:
            kind, public_id = match.groups()
            scope["route"] = _Route(f"/hooks/{kind}/{{public_id}}")
            if method == "POST":
                try:
                    body = await _read_body(receive)
                except ClientDisconnect:
                    return  # the sender hung up before its body arrived: nothing was stored
                headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                           for k, v in scope["headers"]}
                status = await _receive(scope["app"].state.ctx, kind, public_id, headers, body)
                await _answer(send, status)
                return
            if method == "GET" and kind == "meta":
                response = await meta_verify(Request(scope, receive), public_id)
            else:
                response = JSONResponse(error_body(405, "method not allowed"), status_code=405)
        await response(scope, receive, send)
