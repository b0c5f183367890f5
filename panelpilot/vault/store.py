"""Save, read, mask and rotate secrets through the secrets table."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.db.base import utcnow
from panelpilot.db.engine import Database
from panelpilot.vault.crypto import Keyring, hint_of, mask
from panelpilot.vault.models import Secret


async def put_secret(
    session: AsyncSession,
    keyring: Keyring,
    *,
    workspace_id: int | None,
    purpose: str,
    value: str,
    existing: Secret | None = None,
) -> Secret:
    """Store ``value``; an unchanged value leaves the existing row untouched."""
    if existing is not None:
        if keyring.decrypt(existing.ciphertext, existing.aad) == value:
            return existing
        existing.ciphertext = keyring.encrypt(value, existing.aad)
        existing.key_id = keyring.current_id
        existing.hint = hint_of(value)
        existing.updated_at = utcnow()
        return existing
    secret = Secret(workspace_id=workspace_id, purpose=purpose, key_id=keyring.current_id,
                    ciphertext="", hint=hint_of(value))
    secret.ciphertext = keyring.encrypt(value, secret.aad)
    session.add(secret)
    await session.flush()
    return secret


def reveal(keyring: Keyring, secret: Secret) -> str:
    return keyring.decrypt(secret.ciphertext, secret.aad)


def masked(secret: Secret | None) -> str | None:
    return None if secret is None else mask(None, secret.hint or "")


@dataclass
class RotationReport:
    total: int
    rotated: int
    already_current: int


async def rotate_all(db: Database, keyring: Keyring, batch: int = 200) -> RotationReport:
    """Re-encrypt every secret under the current key, in small transactions.

    Nodes that still run with the old key as current keep working during the rotation because
    every node can read both (the old key stays listed in PANELPILOT_OLD_SECRET_KEYS until done).
    """
    total = rotated = current = 0
    last_id = 0
    while True:
        async with db.platform_session() as session:
            rows = (
                await session.execute(
                    select(Secret).where(Secret.id > last_id).order_by(Secret.id).limit(batch)
                    .with_for_update()
                )
            ).scalars().all()
            if not rows:
                break
            for secret in rows:
                total += 1
                last_id = secret.id
                if secret.key_id == keyring.current_id:
                    current += 1
                    continue
                plain = keyring.decrypt(secret.ciphertext, secret.aad)
                secret.ciphertext = keyring.encrypt(plain, secret.aad)
                secret.key_id = keyring.current_id
                rotated += 1
    return RotationReport(total=total, rotated=rotated, already_current=current)


async def keys_in_use(db: Database) -> dict[str, int]:
    from sqlalchemy import func

    async with db.platform_session() as session:
        rows = await session.execute(select(Secret.key_id, func.count()).group_by(Secret.key_id))
        return {key_id: count for key_id, count in rows.all()}
