"""AES-256-GCM encryption under a keyring: one current key that encrypts, older keys that decrypt.

Each ciphertext names the key it was made with (``v1.<key id>.<data>``), so a new current key
can be introduced while old rows stay readable, and ``panelpilot secrets rotate`` moves them.
The associated data binds a ciphertext to its row's owner and purpose: a ciphertext copied into
another workspace's row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets as pysecrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)

VERSION = "v1"
MIN_KEY_LENGTH = 16


class VaultError(Exception):
    """A secret can not be encrypted or decrypted (missing key, tampered data)."""


def _derive(key_material: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"panelpilot-vault", info=b"aes-256-gcm"
    ).derive(key_material.encode())


def key_id_of(key_material: str) -> str:
    return hashlib.sha256(b"panelpilot-key-id:" + _derive(key_material)).hexdigest()[:12]


def generate_key() -> str:
    return pysecrets.token_urlsafe(32)


class Keyring:
    def __init__(self, current: str, old: list[str] | None = None) -> None:
        if len(current) < MIN_KEY_LENGTH:
            raise VaultError(f"the secret key must be at least {MIN_KEY_LENGTH} characters long")
        self.current_id = key_id_of(current)
        self._keys: dict[str, AESGCM] = {self.current_id: AESGCM(_derive(current))}
        for material in old or []:
            self._keys.setdefault(key_id_of(material), AESGCM(_derive(material)))

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def encrypt(self, plaintext: str, aad: str) -> str:
        nonce = os.urandom(12)
        data = self._keys[self.current_id].encrypt(nonce, plaintext.encode(), aad.encode())
        blob = base64.urlsafe_b64encode(nonce + data).decode().rstrip("=")
        return f"{VERSION}.{self.current_id}.{blob}"

    @staticmethod
    def key_id_in(token: str) -> str:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise VaultError("not a panelpilot ciphertext")
        return parts[1]

    def decrypt(self, token: str, aad: str) -> str:
        key_id = self.key_id_in(token)
        key = self._keys.get(key_id)
        if key is None:
            raise VaultError(
                f"secret was encrypted with key {key_id}, which is not configured "
                "(add it to PANELPILOT_OLD_SECRET_KEYS)"
            )
        blob = token.split(".")[2]
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        try:
            return key.decrypt(raw[:12], raw[12:], aad.encode()).decode()
        except InvalidTag as exc:
            raise VaultError("secret failed authentication (tampered or moved)") from exc


def mask(value: str | None, hint: str | None = None) -> str:
    """The only form in which a secret is ever shown: its last four characters."""
    tail = hint if hint is not None else (value or "")[-4:]
    if not tail and not value:
        return ""
    return "••••" + tail


def hint_of(value: str) -> str:
    # Short secrets keep fewer visible characters so the mask never shows most of one.
    return value[-4:] if len(value) >= 12 else value[-2:] if len(value) >= 6 else ""


def load_keyring(
    secret_key: str | None, old_keys: list[str], key_file: Path, production: bool
) -> Keyring:
    """The keyring from settings; in development a key is generated once and kept in a file."""
    if secret_key:
        return Keyring(secret_key, old_keys)
    if production:
        raise VaultError(
            "PANELPILOT_SECRET_KEY is not set. In production panelpilot refuses to start "
            "without it: generate one with `panelpilot secrets generate-key` and keep it safe."
        )
    if key_file.exists():
        material = key_file.read_text().strip()
    else:
        material = generate_key()
        key_file.write_text(material + "\n")
        key_file.chmod(0o600)
        log.warning(
            "PANELPILOT_SECRET_KEY is not set: generated a development key in %s. "
            "Set PANELPILOT_SECRET_KEY in production; losing this key loses every stored secret.",
            key_file,
        )
    return Keyring(material, old_keys)
