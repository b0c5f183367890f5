"""Set, show, remove and test a workspace's panel connection."""

from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.db.base import utcnow
from panelpilot.db.engine import Database
from panelpilot.errors import Invalid, NotFound
from panelpilot.panels.connection import PANEL_TYPES, PanelConnection
from panelpilot.vault.crypto import Keyring
from panelpilot.vault.store import masked, put_secret, reveal


def check_panel_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid("the panel address must be an http(s) URL such as https://yourpanel.com",
                      field="url")
    if parts.query or parts.fragment:
        raise Invalid("the panel address has no query or fragment", field="url")
    return url


@dataclass
class PanelView:
    """What any interface may show of a panel connection (keys masked)."""

    type: str
    url: str
    api_key: str | None
    user_api_key: str | None
    last_test_at: str | None
    last_test_ok: bool | None
    last_test_report: dict[str, Any]


def view(conn: PanelConnection) -> PanelView:
    return PanelView(
        type=conn.panel_type,
        url=conn.base_url,
        api_key=masked(conn.api_key),
        user_api_key=masked(conn.user_api_key),
        last_test_at=conn.last_test_at.isoformat() if conn.last_test_at else None,
        last_test_ok=conn.last_test_ok,
        last_test_report=conn.last_test_report or {},
    )


async def get_connection(session: AsyncSession) -> PanelConnection | None:
    return (await session.execute(select(PanelConnection))).scalar()


async def set_connection(
    session: AsyncSession, keyring: Keyring, workspace_id: int, *, panel_type: str, url: str,
    api_key: str | None, user_api_key: str | None = None, clear_user_api_key: bool = False,
) -> tuple[PanelConnection, bool]:
    """Create or update the connection; returns it and whether anything changed.

    ``api_key=None`` keeps the stored key (forms and files that do not repeat a secret).
    """
    if panel_type not in PANEL_TYPES:
        raise Invalid(f"panel type is one of: {', '.join(PANEL_TYPES)}", field="type")
    url = check_panel_url(url)
    conn = await get_connection(session)
    if conn is None and not api_key:
        raise Invalid("the panel's admin API key is required", field="api_key")
    changed = False
    if conn is None:
        assert api_key is not None
        secret = await put_secret(session, keyring, workspace_id=workspace_id,
                                  purpose="panel.api_key", value=api_key)
        conn = PanelConnection(workspace_id=workspace_id, panel_type=panel_type, base_url=url,
                               api_key_id=secret.id, api_key=secret, last_test_report={})
        session.add(conn)
        changed = True
    else:
        if conn.panel_type != panel_type or conn.base_url != url:
            conn.panel_type, conn.base_url = panel_type, url
            conn.last_test_ok, conn.last_test_report = None, {}
            changed = True
        if api_key:
            before = conn.api_key.ciphertext
            await put_secret(session, keyring, workspace_id=workspace_id,
                             purpose="panel.api_key", value=api_key, existing=conn.api_key)
            changed = changed or conn.api_key.ciphertext != before
    if user_api_key:
        before_user = conn.user_api_key.ciphertext if conn.user_api_key else None
        secret = await put_secret(session, keyring, workspace_id=workspace_id,
                                  purpose="panel.user_api_key", value=user_api_key,
                                  existing=conn.user_api_key)
        if conn.user_api_key is None:
            conn.user_api_key, conn.user_api_key_id = secret, secret.id
        changed = changed or secret.ciphertext != before_user
    elif clear_user_api_key and conn.user_api_key is not None:
        old = conn.user_api_key
        conn.user_api_key, conn.user_api_key_id = None, None
        await session.flush()
        await session.delete(old)
        changed = True
    await session.flush()
    return conn, changed


async def delete_connection(session: AsyncSession) -> bool:
    conn = await get_connection(session)
    if conn is None:
        return False
    secrets = [conn.api_key, conn.user_api_key]
    await session.delete(conn)
    await session.flush()
    for secret in secrets:
        if secret is not None:
            await session.delete(secret)
    return True


def _as_dict(report: Any) -> dict[str, Any]:
    if is_dataclass(report) and not isinstance(report, type):
        return asdict(report)
    if isinstance(report, dict):
        return report
    return {"ok": bool(getattr(report, "ok", False)), "message": str(report)}


async def test_connection(
    db: Database, keyring: Keyring, http: httpx.AsyncClient, workspace_id: int
) -> dict[str, Any]:
    """Call the panel for real and store what works and what does not.

    The panel is called outside any transaction: a slow panel must not hold a database lock.
    """
    from panelpilot.panels.registry import make_adapter

    async with db.session(workspace_id) as session:
        conn = await get_connection(session)
        if conn is None:
            raise NotFound("this workspace has no panel connection yet")
        panel_type, base_url = conn.panel_type, conn.base_url
        api_key = reveal(keyring, conn.api_key)
        user_api_key = reveal(keyring, conn.user_api_key) if conn.user_api_key else None
    adapter = make_adapter(panel_type, base_url=base_url, api_key=api_key,
                           user_api_key=user_api_key, http=http)
    report = _as_dict(await adapter.test_connection())
    async with db.session(workspace_id) as session:
        conn = await get_connection(session)
        if conn is not None:
            conn.last_test_at = utcnow()
            conn.last_test_ok = bool(report.get("ok"))
            conn.last_test_report = report
    return report
