"""Signed session cookies, CSRF tokens and the fingerprint that ends sessions on a password change.

The session lives in one HMAC-signed cookie instead of a table, so the console needs no
migration. The price: a copied cookie stays valid until it idles out, reaches its absolute
lifetime, or the password changes (the cookie carries a fingerprint of the password hash).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from panelpilot.settings import Settings

COOKIE_NAME = "pp_console"
IDLE_SECONDS = 12 * 3600
ABSOLUTE_SECONDS = 7 * 24 * 3600
# Rewriting the cookie on every request would be wasteful; "last seen" moves in steps.
REFRESH_SECONDS = 600
MAX_FLASHES = 5


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(material: str) -> bytes:
    return hmac.new(material.encode(), b"panelpilot-console-session-v1", hashlib.sha256).digest()


class Signer:
    """Signs with the current secret key; still accepts cookies signed with the old ones."""

    def __init__(self, current: str, old: list[str] | None = None) -> None:
        self._current = _derive(current)
        self._all = [self._current, *(_derive(m) for m in old or [])]

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        # Same key material as the vault: the development key file exists by now, because
        # Context.from_settings loaded (or made) it before any request.
        material = settings.secret_key or settings.secret_key_file.read_text().strip()
        return cls(material, settings.old_keys())

    def sign(self, data: dict[str, Any]) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":")).encode())
        mac = hmac.new(self._current, payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{_b64(mac)}"

    def unsign(self, value: str) -> dict[str, Any] | None:
        payload, _, mac_text = value.partition(".")
        try:
            mac = _unb64(mac_text)
        except (binascii.Error, ValueError):
            return None
        for key in self._all:
            expected = hmac.new(key, payload.encode(), hashlib.sha256).digest()
            if hmac.compare_digest(mac, expected):
                try:
                    data = json.loads(_unb64(payload))
                except (binascii.Error, ValueError):
                    return None
                return data if isinstance(data, dict) else None
        return None

    def fingerprint(self, password_hash: str) -> str:
        return hmac.new(self._current, b"pw:" + password_hash.encode(),
                        hashlib.sha256).hexdigest()[:20]


@dataclass
class Session:
    """What the cookie holds. Anonymous sessions carry only a CSRF secret and flashes."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    user_id: int | None = None
    fingerprint: str = ""
    login_at: float = 0.0
    seen_at: float = 0.0
    flashes: list[list[str]] = field(default_factory=list)
    # A value to show once on the next page (a new API token), encrypted: [purpose, ciphertext].
    once: list[str] = field(default_factory=list)
    dirty: bool = False

    def to_cookie(self) -> dict[str, Any]:
        data: dict[str, Any] = {"c": self.csrf, "u": self.user_id, "f": self.fingerprint,
                                "l": self.login_at, "s": self.seen_at,
                                "m": self.flashes[-MAX_FLASHES:]}
        if self.once:
            data["o"] = self.once
        return data

    @classmethod
    def from_cookie(cls, data: dict[str, Any], now: float | None = None) -> Session | None:
        now = time.time() if now is None else now
        try:
            session = cls(csrf=str(data["c"]), user_id=data.get("u"),
                          fingerprint=str(data.get("f") or ""), login_at=float(data.get("l", 0)),
                          seen_at=float(data.get("s", 0)),
                          flashes=[[str(k), str(m)] for k, m in data.get("m", [])],
                          once=[str(v) for v in data.get("o", [])][:2])
        except (KeyError, TypeError, ValueError):
            return None
        if session.user_id is not None and (
            not isinstance(session.user_id, int)
            or now - session.seen_at > IDLE_SECONDS
            or now - session.login_at > ABSOLUTE_SECONDS
        ):
            # Expired: keep the visitor's flashes, forget who they were.
            return cls(flashes=session.flashes, dirty=True)
        return session

    def sign_in(self, user_id: int, fingerprint: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        # A new CSRF secret at sign-in: a token planted before login is worthless after it.
        self.csrf = secrets.token_urlsafe(24)
        self.user_id, self.fingerprint = user_id, fingerprint
        self.login_at = self.seen_at = now
        self.dirty = True

    def sign_out(self) -> None:
        self.csrf = secrets.token_urlsafe(24)
        self.user_id, self.fingerprint, self.login_at, self.seen_at = None, "", 0.0, 0.0
        self.once = []
        self.dirty = True

    def touch(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if self.user_id is not None and now - self.seen_at > REFRESH_SECONDS:
            self.seen_at = now
            self.dirty = True

    def flash(self, kind: str, message: str) -> None:
        self.flashes.append([kind, message])
        self.dirty = True

    def pop_flashes(self) -> list[list[str]]:
        out, self.flashes = self.flashes, []
        if out:
            self.dirty = True
        return out

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token).encode(), self.csrf.encode())
