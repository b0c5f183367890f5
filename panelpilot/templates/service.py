"""Customer-facing wording: built-in defaults, per-workspace overrides, safe rendering.

Placeholders are ``{name}``; an unknown placeholder stays as written rather than failing, so a
typo in a workspace's template can never turn into an error a customer sees.
"""

from __future__ import annotations

import string
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.errors import Invalid
from panelpilot.templates.models import Template

DEFAULTS: dict[str, str] = {
    "help": (
        "Send your order ID and what you need, for example:\n"
        "2274209 refill\n"
        "2274209, 2274210 speed\n"
        "2274209 cancel\n"
        "Also: balance, status <order ID>."
    ),
    "api_problem": "We could not check your order right now. Please try again in a few minutes.",
}
MAX_LENGTH = 4000


def register_defaults(templates: dict[str, str]) -> None:
    """Modules add their templates here at import time."""
    DEFAULTS.update(templates)


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_text(text: str, values: dict[str, Any]) -> str:
    try:
        return string.Formatter().vformat(text, (), _Values(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        return text


def check_template(key: str, text: str) -> None:
    if key not in DEFAULTS:
        raise Invalid(f"unknown template {key!r} (known: {', '.join(sorted(DEFAULTS))})",
                      field="key")
    if not text.strip():
        raise Invalid("a template can not be empty", field="text")
    if len(text) > MAX_LENGTH:
        raise Invalid(f"a template is at most {MAX_LENGTH} characters", field="text")


async def overrides(session: AsyncSession) -> dict[str, str]:
    rows = await session.execute(select(Template.key, Template.text))
    return {key: text for key, text in rows.all()}


async def render(session: AsyncSession, key: str, **values: Any) -> str:
    row = (await session.execute(select(Template.text).where(Template.key == key))).scalar()
    return render_text(row if row is not None else DEFAULTS.get(key, ""), values)


async def set_template(session: AsyncSession, workspace_id: int, key: str, text: str) -> bool:
    """Save a workspace's wording; returns whether it changed."""
    check_template(key, text)
    row = (await session.execute(select(Template).where(Template.key == key))).scalar()
    if row is None:
        session.add(Template(workspace_id=workspace_id, key=key, text=text))
        return True
    if row.text == text:
        return False
    row.text = text
    return True


async def reset_template(session: AsyncSession, key: str) -> bool:
    row = (await session.execute(select(Template).where(Template.key == key))).scalar()
    if row is None:
        return False
    await session.delete(row)
    return True
