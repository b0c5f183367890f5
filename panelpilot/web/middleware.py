"""Pure ASGI middleware: request ids, Prometheus request metrics and the body size limit.

Pure ASGI rather than BaseHTTPMiddleware because webhooks are the hot path: every layer here
costs a little on each of thousands of requests a second.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from panelpilot.logs import request_id_var
from panelpilot.web.errors import error_body

REQUESTS = Counter(
    "panelpilot_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
LATENCY = Histogram(
    "panelpilot_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class _TooLarge(BaseException):
    """Raised from ``receive`` past the limit. A BaseException so that FastAPI's body parsing,
    which turns every Exception into a 400, lets it through to us."""


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return str(path)
    # Unmatched paths are folded into one label so scanners cannot blow up the label space.
    return "unmatched"


class RequestMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else (
            uuid.uuid4().hex[:16]
        )
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        limit = self.max_body_bytes

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"], (b"x-request-id", request_id.encode())
                ]
            await send(message)

        try:
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                status = 413
                await _send_413(send_wrapper, limit)
                return
            received = 0

            async def receive_wrapper() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise _TooLarge
                return message

            try:
                await self.app(scope, receive_wrapper, send_wrapper)
            except _TooLarge:
                if not response_started:
                    await _send_413(send_wrapper, limit)
                status = 413
        finally:
            route = _route_of(scope)
            method = scope.get("method", "")
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)
            request_id_var.reset(token)


async def _send_413(send: Any, limit: int) -> None:
    body = json.dumps(
        error_body(413, f"the request body is larger than the limit of {limit} bytes")
    ).encode()
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})
