"""WhatsApp through the Meta Cloud API: webhook signatures, event normalizing, the client."""

from panelpilot.channels.meta.client import TEXT_LIMIT, MetaClient, error_for
from panelpilot.channels.meta.normalize import normalize, phone_number_id_of, split_events
from panelpilot.channels.meta.signature import sign, verify_signature

KIND = "meta"

__all__ = [
    "KIND",
    "TEXT_LIMIT",
    "MetaClient",
    "error_for",
    "normalize",
    "phone_number_id_of",
    "sign",
    "split_events",
    "verify_signature",
]
