"""The setup checklist on a workspace's overview, as seed 000 puts it: connect the panel and
test its Admin API, connect one channel, map your providers, link users, send a test command.

Each step is a small async function that looks at the workspace and returns a
``ChecklistItem`` (label, done, link). Steps whose feature is not built yet have no function
and are simply not shown; the feature fills its slot with ``provide(key, fn)`` when it lands:

    from panelpilot.console import checklist

    async def providers_mapped(c: checklist.StepContext) -> checklist.ChecklistItem:
        count = ...  # query c.session (already scoped to the workspace)
        return checklist.ChecklistItem("providers", "Map your providers", count > 0,
                                       f"{c.base}/providers", f"{count} mapped")

    checklist.provide("providers", providers_mapped)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.models import ChannelAccount, ChannelMode, ChannelStatus
from panelpilot.context import Context
from panelpilot.panels.service import get_connection
from panelpilot.tenancy.models import Workspace


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    done: bool
    link: str | None  # the page where this step is done
    detail: str = ""  # what is there now, or what to do next
    owner_only: bool = False  # the page refuses agents: they see the step without its button


@dataclass
class StepContext:
    ctx: Context
    session: AsyncSession  # scoped to the workspace
    workspace: Workspace

    @property
    def base(self) -> str:
        return f"/w/{self.workspace.slug}"


Step = Callable[[StepContext], Awaitable[ChecklistItem | None]]

# The order people do things in. A key without a function is left out of the list.
ORDER = ["panel", "panel_test", "channel", "providers", "linked_users", "test_command"]
_steps: dict[str, Step] = {}


def provide(key: str, step: Step) -> None:
    """Fill (or replace) the step ``key``; a key not in ``ORDER`` is added at the end."""
    if key not in ORDER:
        ORDER.append(key)
    _steps[key] = step


def provided() -> list[str]:
    return [key for key in ORDER if key in _steps]


async def setup_checklist(ctx: Context, workspace: Workspace) -> list[ChecklistItem]:
    """The workspace's checklist, every provided step in order, in one read-only session."""
    items: list[ChecklistItem] = []
    async with ctx.db.read_session(workspace.id) as session:
        step_ctx = StepContext(ctx, session, workspace)
        for key in provided():
            item = await _steps[key](step_ctx)
            if item is not None:
                items.append(item)
    return items


# --- the steps whose features exist today --------------------------------------------------


async def panel_connected(c: StepContext) -> ChecklistItem:
    conn = await get_connection(c.session)
    detail = (f"{conn.panel_type} at {conn.base_url}" if conn
              else "Enter your panel's address and Admin API key.")
    return ChecklistItem("panel", "Connect your panel", conn is not None, f"{c.base}/panel",
                         detail)


async def panel_tested(c: StepContext) -> ChecklistItem:
    conn = await get_connection(c.session)
    if conn is None:
        detail = "Connect the panel first."
    elif conn.last_test_ok:
        detail = "The Admin API answered and every checked part works."
    elif conn.last_test_ok is False:
        detail = "The last test found problems: open the panel page to see them."
    else:
        detail = "Press “Test connection” on the panel page."
    return ChecklistItem("panel_test", "Test the Admin API", bool(conn and conn.last_test_ok),
                         f"{c.base}/panel", detail)


def channel_is_connected(ch: ChannelAccount) -> bool:
    """Active, and the platform knows where to deliver (webhook set) or updates arrived."""
    if ch.status != ChannelStatus.ACTIVE:
        return False
    if ch.last_update_at is not None:
        return True
    return ch.webhook_set_at is not None if ch.mode == ChannelMode.WEBHOOK else True


async def channel_connected(c: StepContext) -> ChecklistItem:
    channels = list((await c.session.execute(select(ChannelAccount))).scalars())
    connected = [ch for ch in channels if channel_is_connected(ch)]
    if connected:
        detail = ", ".join(ch.key for ch in connected[:3]) + " connected"
    elif channels:
        detail = "A channel is added but not connected yet: open it to see why."
    else:
        detail = "Add a Telegram bot or a WhatsApp number (Green API or Meta)."
    return ChecklistItem("channel", "Connect a channel", bool(connected), f"{c.base}/channels",
                         detail)


provide("panel", panel_connected)
provide("panel_test", panel_tested)
provide("channel", channel_connected)
