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
    admin_templates,
    aliases,
    analytics,
    channels,
    chats,
    commandlog,
    cooldowns,
    dispatches,
    linked,
    members,
    messages,
    ordersettings,
    outbox,
    overview,
    panel,
    panelcalls,
    routes,
    runners,
    services,
    support,
    templates,
    testconsole,
    tickets,
    tokens,
)

PAGES: list[APIRouter] = [
    account.router,
    overview.router,
    panel.router,
    channels.router,
    templates.router,
    routes.router,
    support.router,
    aliases.router,
    ordersettings.router,
    services.router,
    linked.router,
    testconsole.router,
    chats.router,
    messages.router,
    outbox.router,
    commandlog.router,
    dispatches.router,
    cooldowns.router,
    tickets.router,
    panelcalls.router,
    analytics.router,
    members.router,
    tokens.router,
    admin.router,
    admin_templates.router,
    runners.router,
]
