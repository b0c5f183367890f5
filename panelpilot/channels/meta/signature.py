"""Meta webhook signatures: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``.

The key is the app secret of the Meta app that owns the webhook subscription. Verify the bytes
exactly as they arrived: Meta signs its own serialization (non-ASCII escaped as ``\\uXXXX``,
slashes as ``\\/``), so re-encoding the parsed JSON would change the digest.
"""

from __future__ import annotations

import hashlib
import hmac
import string

HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
_HEX = frozenset(string.hexdigits)


def sign(app_secret: str, raw_body: bytes) -> str:
    """The header value Meta would send for ``raw_body`` (used by the simulator and tests)."""
    digest = hmac.new(app_secret.encode("utf-8"), bytes(raw_body), hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_signature(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """True only when ``header`` is a well-formed signature of ``raw_body`` under ``app_secret``."""
    if not app_secret or not isinstance(header, str):
        return False
    if not isinstance(raw_body, bytes | bytearray | memoryview):
        return False
    value = header.strip()
    if value[: len(_PREFIX)].lower() != _PREFIX:
        return False
    given = value[len(_PREFIX) :].strip().lower()
    if len(given) != 64 or not _HEX.issuperset(given):
        return False
    expected = sign(app_secret, raw_body)[len(_PREFIX) :]
    return hmac.compare_digest(given.encode("ascii"), expected.encode("ascii"))
