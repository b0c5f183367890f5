"""Secrets at rest: authenticated encryption with key ids, masking and key rotation."""

from panelpilot.vault.crypto import Keyring, VaultError, mask
from panelpilot.vault.models import Secret

__all__ = ["Keyring", "Secret", "VaultError", "mask"]
