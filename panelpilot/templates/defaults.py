"""The platform owner's default templates: the wording every workspace created from now on
starts with, instead of the built-in wording in code.

``copy_into`` is called by ``tenancy.service.create_workspace`` (the one place a workspace is
born: console, API, CLI and ``workspace apply`` all go through it) and copies the platform's
wording in as the new workspace's own templates. Workspaces that exist already keep what they
have: changing a default here never reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.errors import NotFound
from panelpilot.templates import service
from panelpilot.templates.models import DefaultTemplate, Template


@dataclass
class DefaultRow:
    """One template key: its built-in wording and the platform's own (if any)."""

    key: str
    builtin: str
    text: str  # what a new workspace gets
    customized: bool  # the platform has its own wording
    updated_at: datetime | None


def known(key: str) -> str:
    """The key, if a module registered it; NotFound otherwise."""
    if key not in service.DEFAULTS:
        raise NotFound(f"no template {key!r}")
    return key


async def platform_texts(session: AsyncSession) -> dict[str, str]:
    """The platform's wording by key, for templates that still exist in code."""
    rows = await session.execute(select(DefaultTemplate.key, DefaultTemplate.text))
    return {key: text for key, text in rows.all() if key in service.DEFAULTS}


async def rows(session: AsyncSession) -> list[DefaultRow]:
    own = {r.key: r for r in (await session.execute(select(DefaultTemplate))).scalars()}
    return [DefaultRow(k, b, own[k].text if k in own else b, k in own,
                       own[k].updated_at if k in own else None)
            for k, b in sorted(service.DEFAULTS.items())]


async def row(session: AsyncSession, key: str) -> DefaultRow:
    builtin = service.DEFAULTS[known(key)]
    own = (await session.execute(
        select(DefaultTemplate).where(DefaultTemplate.key == key))).scalar()
    return DefaultRow(key, builtin, own.text if own else builtin, own is not None,
                      own.updated_at if own else None)


async def set_default(session: AsyncSession, key: str, text: str) -> bool:
    """Save the platform's wording of ``key``; returns whether anything changed.

    The built-in wording word for word removes the platform's own instead, so the template
    follows the code again (and its improvements in later releases).
    """
    known(key)
    service.check_template(key, text)
    if text == service.DEFAULTS[key]:
        return await reset_default(session, key)
    own = (await session.execute(
        select(DefaultTemplate).where(DefaultTemplate.key == key))).scalar()
    if own is None:
        session.add(DefaultTemplate(key=key, text=text))
        return True
    if own.text == text:
        return False
    own.text = text
    return True


async def reset_default(session: AsyncSession, key: str) -> bool:
    """Back to the built-in wording for new workspaces; returns whether there was one."""
    known(key)
    own = (await session.execute(
        select(DefaultTemplate).where(DefaultTemplate.key == key))).scalar()
    if own is None:
        return False
    await session.delete(own)
    return True


async def copy_into(session: AsyncSession, workspace_id: int) -> int:
    """Give a new workspace the platform's wording as its own templates; returns how many.

    Every stored row is copied, not only the keys of the modules this process has imported:
    a CLI command that never loads a module must not drop that module's wording.
    """
    texts = dict((await session.execute(
        select(DefaultTemplate.key, DefaultTemplate.text).order_by(DefaultTemplate.key))).all())
    for key, text in texts.items():
        session.add(Template(workspace_id=workspace_id, key=key, text=text))
    if texts:
        await session.flush()
    return len(texts)
