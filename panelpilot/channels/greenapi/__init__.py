"""WhatsApp through Green API: event splitting and normalizing, the send client, the webhook check.

Green API sends its webhooks with ``Authorization: Bearer <webhookUrlToken>`` when a token is set
(see setSettings); ``webhook_authorized`` checks that header in constant time.
"""

from __future__ import annotations

import hmac

from panelpilot.channels.greenapi.client import (
    QUOTA_EXCEEDED,
    TEXT_LIMIT,
    GreenApiClient,
    render_text,
)
from panelpilot.channels.greenapi.normalize import event_key, normalize, split_events, unwrap

KIND = "greenapi"

__all__ = [
    "KIND",
    "QUOTA_EXCEEDED",
    "TEXT_LIMIT",
    "GreenApiClient",
    "event_key",
    "normalize",
    "render_text",
    "split_events",
    "unwrap",
    "webhook_authorized",
]


def webhook_authorized(authorization: str | None, token: str) -> bool:
    """True when the Authorization header carries ``token`` (with or without "Bearer ")."""
    if not token:
        return False  # an endpoint without a token must not accept anything
    if not authorization:
        return False
    value = authorization.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer" and rest:
        value = rest.strip()
    return hmac.compare_digest(value.encode(), token.encode())
