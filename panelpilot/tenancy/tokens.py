"""API tokens: ``pp_<prefix>_<secret>``, stored as a SHA-256 hash, shown once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.db.base import utcnow
from panelpilot.tenancy.models import ApiToken, Role

TOKEN_PREFIX = "pp_"


def _hash(token: str) -> str:
    # Tokens carry 256 bits of randomness: a fast hash is enough, no password hashing needed.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class IssuedToken:
    token: ApiToken
    plaintext: str


async def issue_token(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    workspace_id: int | None,
    created_by: int | None = None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    if (role == Role.PLATFORM_OWNER) != (workspace_id is None):
        raise ValueError("platform tokens have no workspace; workspace tokens need one")
    prefix = secrets.token_hex(6)
    plaintext = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        workspace_id=workspace_id,
        name=name,
        role=role.value,
        prefix=prefix,
        token_hash=_hash(plaintext),
        created_by=created_by,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return IssuedToken(row, plaintext)


def split_token(plaintext: str) -> str | None:
    """The lookup prefix of a well-formed token, or None."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    parts = plaintext[len(TOKEN_PREFIX):].split("_", 1)
    if len(parts) != 2 or len(parts[0]) != 12:
        return None
    return parts[0]


async def authenticate(session: AsyncSession, plaintext: str) -> ApiToken | None:
    """The live token for ``plaintext``; call from a platform session (scope is not known yet)."""
    prefix = split_token(plaintext)
    if prefix is None:
        return None
    row = (await session.execute(select(ApiToken).where(ApiToken.prefix == prefix))).scalar()
    if row is None or not hmac.compare_digest(row.token_hash, _hash(plaintext)):
        return None
    now = utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    # Only write when it moved noticeably: a write per API call would serialize SQLite.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
    return row
