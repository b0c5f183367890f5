"""The console's page modules; ``install`` includes every router listed in ``PAGES``.

A new page module (logs, analytics, test console, runners…) defines
``router = console_router()``, registers its ``NavItem`` in ``panelpilot.console.nav`` and is
added to this list.
"""

from __future__ import annotations

from fastapi import APIRouter

from panelpilot.console.pages import (
    account,
    admin,
    channels,
    chats,
    members,
    messages,
    outbox,
    overview,
    panel,
    runners,
    templates,
    tokens,
)

PAGES: list[APIRouter] = [
    account.router,
    overview.router,
    panel.router,
    channels.router,
    templates.router,
    chats.router,
    messages.router,
    outbox.router,
    members.router,
    tokens.router,
    admin.router,
    runners.router,
]
