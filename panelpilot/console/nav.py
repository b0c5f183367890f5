"""The console's navigation: one registry for workspace pages and one for the master admin.

A new page (logs, analytics, the test console, runners…) adds its router to
``panelpilot.console.pages.PAGES`` and one ``NavItem`` here with ``add_workspace_page`` or
``add_admin_page``; the layout, the role filter and the active-link marking come for free.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    key: str  # what a page passes as ``active`` to mark itself
    label: str
    path: str  # below /w/{slug} for workspace pages, absolute for admin pages
    section: str = "Setup"
    owner_only: bool = False  # hidden from agents (the route must refuse them too)
    order: int = 100


WORKSPACE_NAV: list[NavItem] = [
    NavItem("overview", "Overview", "", section="Workspace", order=10),
    NavItem("panel", "Panel connection", "/panel", order=20),
    NavItem("channels", "Channels", "/channels", order=30),
    NavItem("members", "Members", "/members", section="Team", order=80),
    NavItem("tokens", "API tokens", "/tokens", section="Team", owner_only=True, order=90),
]

ADMIN_NAV: list[NavItem] = [
    NavItem("workspaces", "Workspaces", "/admin", section="Platform", order=10),
    NavItem("users", "Users", "/admin/users", section="Platform", order=20),
]

SECTIONS = ["Workspace", "Setup", "Routing", "Logs", "Insights", "Team"]


def add_workspace_page(item: NavItem) -> None:
    if any(existing.key == item.key for existing in WORKSPACE_NAV):
        return
    WORKSPACE_NAV.append(item)


def add_admin_page(item: NavItem) -> None:
    if any(existing.key == item.key for existing in ADMIN_NAV):
        return
    ADMIN_NAV.append(item)


def grouped(items: list[NavItem]) -> list[tuple[str, list[NavItem]]]:
    """Items by section, sections in ``SECTIONS`` order (unknown ones last), items by order."""
    sections: dict[str, list[NavItem]] = {}
    for item in sorted(items, key=lambda i: i.order):
        sections.setdefault(item.section, []).append(item)
    rank = {name: i for i, name in enumerate(SECTIONS)}
    return sorted(sections.items(), key=lambda kv: rank.get(kv[0], len(SECTIONS)))


def workspace_nav(is_owner: bool) -> list[tuple[str, list[NavItem]]]:
    return grouped([i for i in WORKSPACE_NAV if is_owner or not i.owner_only])


def admin_nav() -> list[tuple[str, list[NavItem]]]:
    return grouped(list(ADMIN_NAV))
