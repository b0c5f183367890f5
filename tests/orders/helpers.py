"""A workspace wired for order support over the simulators, and a chat driver.

The panel and provider are the real simulators on loopback sockets. Chat messages go through
the real spine (inbox insert, claim, process, outbox) in the test's own task, without the
channel simulators, so a test reads each answer as soon as its message is processed. Whole
flows over the channel simulators and the workers live in ``tests/e2e/test_orders*.py``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from panelpilot.channels.base import RawEvent
from panelpilot.channels.service import forget, load_creds
from panelpilot.context import Context
from panelpilot.inbox.claim import claim
from panelpilot.inbox.ingest import store
from panelpilot.inbox.process import process
from panelpilot.outbox.models import OutboundMessage
from panelpilot.sim.perfectpanel import PerfectPanelSim
from panelpilot.sim.rental import RentalPanelSim
from panelpilot.sim.server import LoopbackServer
from panelpilot.workspaces.apply import apply_file

TG_TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
JOHN = 555000111  # linked to john_doe
JANE = 555000222  # linked to jane_smith
STRANGER = 555000999  # not linked
CUSTOMER_GROUP = -100500  # a customer group linked to jane_smith
PROVIDER_GROUP = -100700  # smmprovider.com and fastsmm.net
SUPPORT = -100900  # the team's chat, also the fallback group

_updates = itertools.count(1000)


def workspace_file(*, panel: tuple[str, str, str, str] | None = None, slug: str = "acme",
                   extra_rules: str = "", aliases: str = "", support: bool = True,
                   templates: str = "") -> str:
    """The workspace as a file; ``panel`` is (type, url, admin key, user key)."""
    panel_section = ""
    if panel is not None:
        panel_section = (f"panel:\n  type: {panel[0]}\n  url: {panel[1]}\n"
                         f"  api_key: {panel[2]}\n  user_api_key: {panel[3]}\n")
    text = f"""\
workspace:
  slug: {slug}
  name: Acme SMM
{panel_section}channels:
  - key: tg
    type: telegram
    mode: polling
    token: "{TG_TOKEN}"
providers:
  - name: smmprovider
    match: [smmprovider.com]
    group: {{channel: tg, chat: "{PROVIDER_GROUP}"}}
  - name: fastsmm
    match: ["fastsmm.net", "Fast SMM"]
    group: {{channel: tg, chat: "{PROVIDER_GROUP}"}}
    commands:
      speed: "/speed {{external_id}}"
      refill: "{{external_id}} refill please"
  - name: perfectsmm
    match: ["Perfect Smm"]
linked_users:
  - {{channel: tg, chat: "{JOHN}", username: john_doe}}
  - {{channel: tg, chat: "{JANE}", username: jane_smith}}
  - {{channel: tg, chat: "{CUSTOMER_GROUP}", username: jane_smith}}
rules:
  cooldown_minutes: {{speed: 60, cancel: 60, refill: 1440}}
{extra_rules}"""
    if support:
        text += f"""support_chats:
  - {{channel: tg, chat: "{SUPPORT}", fallback: true}}
"""
    if aliases:
        text += f"aliases:\n{aliases}"
    if templates:
        text += f"templates:\n{templates}"
    return text


@dataclass
class Said:
    """What one message led to: the answers in that chat and everything else queued."""

    replies: list[str]
    outgoing: list[OutboundMessage] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.replies)

    def to(self, chat_id: int | str) -> list[str]:
        return [m.text for m in self.outgoing if m.chat_id == str(chat_id)]


@dataclass
class Shop:
    """The ``acme`` workspace: a Telegram bot, a seeded panel, routes, links, a support chat."""

    ctx: Context
    workspace_id: int
    channel_id: int
    panel: PerfectPanelSim | RentalPanelSim
    panel_url: str
    panel_type: str
    _messages: itertools.count = field(default_factory=lambda: itertools.count(1))

    def update(self, chat_id: int, text: str, *, user_id: int | None = None) -> dict[str, Any]:
        group = chat_id < 0
        user = user_id or (chat_id if not group else 777)
        chat: dict[str, Any] = {"id": chat_id, "type": "supergroup" if group else "private"}
        if group:
            chat["title"] = f"Group {chat_id}"
        else:
            chat["first_name"] = "Customer"
        return {"update_id": next(_updates), "message": {
            "message_id": next(self._messages), "date": int(time.time()), "text": text,
            "chat": chat, "from": {"id": user, "is_bot": False, "first_name": "Customer"}}}

    async def deliver(self, *updates: dict[str, Any]) -> None:
        creds = await load_creds(self.ctx, channel_id=self.channel_id, fresh=True)
        assert creds is not None
        await store(self.ctx, creds, [RawEvent(str(u["update_id"]), u) for u in updates])

    async def drain(self) -> None:
        """Process every waiting event, each chat in order (as the inbox workers do)."""
        while True:
            claims = await claim(self.ctx.db, 20, lease=60)
            if not claims:
                return
            for c in claims:
                await process(self.ctx, c)

    async def outbox_after(self, last_id: int) -> list[OutboundMessage]:
        async with self.ctx.db.read_session(self.workspace_id) as s:
            return list((await s.execute(
                select(OutboundMessage).where(OutboundMessage.id > last_id,
                                              OutboundMessage.kind == "text")
                .order_by(OutboundMessage.id))).scalars())

    async def last_outbox_id(self) -> int:
        async with self.ctx.db.read_session(self.workspace_id) as s:
            ids = (await s.execute(select(OutboundMessage.id).order_by(
                OutboundMessage.id.desc()).limit(1))).scalar()
        return ids or 0

    async def say(self, chat_id: int, text: str, *, user_id: int | None = None) -> Said:
        """``text`` from ``chat_id``; returns the answers there and what else was queued."""
        before = await self.last_outbox_id()
        await self.deliver(self.update(chat_id, text, user_id=user_id))
        await self.drain()
        rows = await self.outbox_after(before)
        return Said([m.text for m in rows if m.chat_id == str(chat_id)],
                    [m for m in rows if m.chat_id != str(chat_id)])

    def file(self, **kwargs: Any) -> str:
        """The workspace file with this shop's panel (see ``workspace_file``)."""
        return workspace_file(panel=(self.panel_type, self.panel_url, self.panel.admin_key,
                                     self.panel.user_key), **kwargs)

    async def apply(self, text: str) -> list[str]:
        result = await apply_file(self.ctx, text)
        forget(self.ctx)
        return result.changes


async def start_panel(kind: str = "perfectpanel") -> tuple[Any, LoopbackServer]:
    sim: PerfectPanelSim | RentalPanelSim
    if kind == "rental":
        sim = RentalPanelSim(seed=True, rate_limit=None)
    else:
        sim = PerfectPanelSim(seed=True, rate_limit=None)
    server = LoopbackServer(sim.app)
    await server.start()
    return sim, server


async def make_shop(ctx: Context, *, kind: str = "perfectpanel", slug: str = "acme",
                    **file: Any) -> AsyncIterator[Shop]:
    """Build the workspace through its file, as an admin would, over a new seeded panel."""
    from panelpilot.channels.models import ChannelAccount
    from panelpilot.tenancy.service import workspace_by_slug

    sim, server = await start_panel(kind)
    try:
        text = workspace_file(panel=(kind, server.url, sim.admin_key, sim.user_key),
                              slug=slug, **file)
        await apply_file(ctx, text)
        forget(ctx)
        async with ctx.db.platform_session() as s:
            ws = await workspace_by_slug(s, slug)
            assert ws is not None
        async with ctx.db.session(ws.id) as s:
            channel_id = (await s.execute(select(ChannelAccount.id))).scalar_one()
        yield Shop(ctx, ws.id, channel_id, sim, server.url, kind)
    finally:
        await server.stop()
