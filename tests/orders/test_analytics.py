"""The analytics figures against a seeded command log, on both databases: counts today, this
month and in the period, failure rate, average and p95 response time, actions, verdicts,
dispatches per provider, cooldown hits, commands per day, failed commands, and the alert rules
firing (and not firing) at their thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from panelpilot.chats.models import Chat
from panelpilot.context import Context
from panelpilot.errors import Invalid
from panelpilot.orders import analytics
from panelpilot.orders.models import (
    CommandLog,
    CommandOrder,
    Dispatch,
    LinkedChat,
    OrderCooldown,
)
from panelpilot.outbox.models import OutboundMessage
from tests.console.logdata import add_channel
from tests.support import Tenants

NOW = datetime(2025, 2, 10, 16, 0, tzinfo=UTC)


@dataclass
class Cmd:
    """One command-log row and what hangs off it."""

    at: datetime
    chat: str
    kind: str = "order_action"
    action: str | None = "refill"
    outcome: str = "sent"
    latency: int = 0
    text: str = ""
    error_type: str | None = None
    suggestion: str | None = None
    username: str | None = None
    items: list[tuple[str, str]] = field(default_factory=list)  # (order id, verdict)
    # (route name, fallback, delivered): one dispatch each
    dispatches: list[tuple[str, bool, bool]] = field(default_factory=list)


async def write(ctx: Context, workspace_id: int, channel_id: int, commands: list[Cmd]) -> None:
    async with ctx.db.session(workspace_id) as s:
        for n, c in enumerate(commands):
            row = CommandLog(workspace_id=workspace_id, created_at=c.at, source="chat",
                             channel_id=channel_id, chat_id=c.chat, username=c.username,
                             text=c.text or f"{c.action} {n}", kind=c.kind, action=c.action,
                             outcome=c.outcome, error_type=c.error_type,
                             suggestion=c.suggestion, latency_ms=c.latency,
                             order_count=len(c.items))
            s.add(row)
            await s.flush()
            for order_id, verdict in c.items:
                s.add(CommandOrder(workspace_id=workspace_id, command_id=row.id,
                                   order_id=order_id, verdict=verdict))
            for i, (route, fallback, delivered) in enumerate(c.dispatches):
                msg = OutboundMessage(workspace_id=workspace_id, channel_id=channel_id,
                                      chat_id="-100700", text="EXT-1 refill", purpose="dispatch",
                                      idempotency_key=f"seed-{row.id}-{i}",
                                      status="sent" if delivered else "failed")
                s.add(msg)
                await s.flush()
                s.add(Dispatch(workspace_id=workspace_id, created_at=c.at, command_id=row.id,
                               route_name=route, provider=f"{route or 'other'}.com",
                               fallback=fallback, action=c.action or "refill",
                               channel_id=channel_id, chat_id="-100700", text="EXT-1 refill",
                               order_ids=",1,", message_id=msg.id))


async def add_chats(ctx: Context, workspace_id: int, channel_id: int,
                    chats: dict[str, str]) -> dict[str, int]:
    """Chat rows by chat id -> title; returns their primary keys."""
    async with ctx.db.session(workspace_id) as s:
        rows = {cid: Chat(workspace_id=workspace_id, channel_id=channel_id, chat_id=cid,
                          title=title, role="customer") for cid, title in chats.items()}
        s.add_all(rows.values())
        await s.flush()
        return {cid: row.id for cid, row in rows.items()}


async def seed_log(ctx: Context, workspace_id: int, now: datetime) -> int:
    """The log the figure tests count (see test_figures_of_the_period); returns the channel."""
    channel_id = await add_channel(ctx, workspace_id)
    pks = await add_chats(ctx, workspace_id, channel_id,
                          {"1001": "John", "1002": "Jane", "1003": "Typo Tim",
                           "1004": "Chatty", "1005": "John's group"})
    # An hour ago, but never before midnight: "today" stays today whenever the tests run.
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = max(now - timedelta(hours=1), midnight)
    # Early on the 1st of this month, and the day before it (last month).
    month = midnight.replace(day=1)
    this_month = month + min(timedelta(minutes=30), (now - month) / 2)
    last_month = month - timedelta(hours=12)
    await write(ctx, workspace_id, channel_id, [
        Cmd(today, "1001", latency=100, username="john", items=[("2274209", "sent")],
            dispatches=[("smmprovider", False, True)]),
        Cmd(today, "1001", outcome="mixed", latency=200, username="john",
            items=[("2274210", "sent"), ("2274209", "cooldown")],
            dispatches=[("smmprovider", False, False)]),
        Cmd(today, "1002", action="speed", outcome="not_yours", latency=300, username="jane",
            items=[("3000001", "not_yours")]),
        Cmd(today, "1002", action="status", outcome="status", latency=400, username="jane",
            items=[("2274211", "status")]),
        Cmd(today, "1003", kind="unrecognized", action="refill", outcome="unrecognized",
            text="refil 2274209", error_type="typo", suggestion="refill"),
        Cmd(today, "1003", kind="unrecognized", action="refill", outcome="unrecognized",
            text="refil 2274209", error_type="typo", suggestion="refill"),
        Cmd(today, "1004", kind="unrecognized", action=None, outcome="unrecognized",
            text="hello there", error_type="unrecognized"),
        Cmd(now - timedelta(days=7), "1001", action="cancel", outcome="api_problem",
            latency=5000),
        Cmd(this_month, "1002", kind="help", action="help", outcome="help", latency=10),
        Cmd(last_month, "1001", latency=600, items=[("2274212", "sent")],
            dispatches=[("", True, True)]),
        Cmd(now - timedelta(days=36), "1001", latency=700, items=[("2274213", "sent")],
            dispatches=[("smmprovider", False, True)]),
    ])
    async with ctx.db.session(workspace_id) as s:
        for chat, username in (("1001", "john"), ("1002", "jane"), ("1005", "John")):
            s.add(LinkedChat(workspace_id=workspace_id, chat_pk=pks[chat], username=username))
        s.add(OrderCooldown(workspace_id=workspace_id, order_id="2274209", action="refill",
                            until=now + timedelta(hours=1), created_at=now - timedelta(hours=1)))
        s.add(OrderCooldown(workspace_id=workspace_id, order_id="2274200", action="refill",
                            until=now - timedelta(hours=1), created_at=now - timedelta(days=2)))
    return channel_id


async def test_figures_of_the_period(ctx: Context, tenants: Tenants) -> None:
    await seed_log(ctx, tenants.acme_id, NOW)
    async with ctx.db.read_session(tenants.acme_id) as s:
        fig = await analytics.figures(s, 30, now=NOW)
    assert fig.since == datetime(2025, 1, 12, tzinfo=UTC)
    assert (fig.linked_chats, fig.linked_usernames) == (3, 2)
    assert fig.active_chats_today == 4
    assert (fig.commands_today, fig.commands_month, fig.commands) == (7, 9, 10)
    assert (fig.unrecognized, fig.api_problems, fig.failed) == (3, 1, 4)
    assert fig.failure_rate == pytest.approx(0.4)
    # Answered commands only: 10, 100, 200, 300, 400, 600, 5000 ms.
    assert fig.avg_latency_ms == pytest.approx(944.3)
    assert fig.p95_latency_ms == 5000
    assert [(c.label, c.count) for c in fig.actions] == [
        ("refill", 3), ("unrecognized", 3), ("cancel", 1), ("help", 1), ("speed", 1),
        ("status", 1)]
    assert [(c.label, c.count) for c in fig.verdicts] == [
        ("sent", 3), ("cooldown", 1), ("not_yours", 1), ("status", 1)]
    assert fig.cooldown_hits == 1 and fig.active_cooldowns == 1
    assert [(p.label, p.fallback, p.dispatches, p.failed) for p in fig.providers] == [
        ("smmprovider", False, 2, 1), ("Fallback group", True, 1, 0)]
    assert fig.dispatches == 3
    assert len(fig.daily) == 30 and fig.daily[0].day == date(2025, 1, 12)
    assert fig.daily[-1].day == date(2025, 2, 10)
    busy = {d.day: (d.commands, d.failed) for d in fig.daily if d.commands}
    assert busy == {date(2025, 2, 10): (7, 3), date(2025, 2, 3): (1, 1),
                    date(2025, 2, 1): (1, 0), date(2025, 1, 31): (1, 0)}
    assert [(f.text, f.error_type, f.suggestion, f.occurrences, f.chats)
            for f in fig.failed_commands] == [("refil 2274209", "typo", "refill", 2, 1),
                                              ("hello there", "unrecognized", None, 1, 1)]
    assert fig.alerts == []


async def test_the_period_decides_what_counts(ctx: Context, tenants: Tenants) -> None:
    await seed_log(ctx, tenants.acme_id, NOW)
    async with ctx.db.read_session(tenants.acme_id) as s:
        week = await analytics.figures(s, 7, now=NOW)
        quarter = await analytics.figures(s, 90, now=NOW)
        typos = await analytics.figures(s, 30, now=NOW, failed_error_type="typo")
    assert (week.commands, week.failed, len(week.daily)) == (7, 3, 7)
    assert week.p95_latency_ms == 400 and week.avg_latency_ms == pytest.approx(250)
    # Today and this month do not depend on the period.
    assert (week.commands_today, week.commands_month) == (7, 9)
    assert quarter.commands == 11 and quarter.dispatches == 4
    assert [f.text for f in typos.failed_commands] == ["refil 2274209"]


async def test_an_empty_log_gives_zeros(ctx: Context, tenants: Tenants) -> None:
    async with ctx.db.read_session(tenants.acme_id) as s:
        fig = await analytics.figures(s, 7, now=NOW)
    assert (fig.commands, fig.failed, fig.failure_rate, fig.dispatches) == (0, 0, 0.0, 0)
    assert fig.avg_latency_ms is None and fig.p95_latency_ms is None
    assert [d.commands for d in fig.daily] == [0] * 7
    assert fig.actions == fig.providers == fig.failed_commands == fig.alerts == []


async def test_p95_on_a_larger_log(ctx: Context, tenants: Tenants) -> None:
    channel_id = await add_channel(ctx, tenants.acme_id)
    # 1..200 ms: the nearest-rank 95th percentile is the 190th value.
    await write(ctx, tenants.acme_id, channel_id,
                [Cmd(NOW - timedelta(minutes=i), "9", latency=i) for i in range(1, 201)])
    async with ctx.db.read_session(tenants.acme_id) as s:
        assert await analytics.p95_latency(s, NOW - timedelta(days=1), NOW) == 190
        fig = await analytics.figures(s, 7, now=NOW)
    assert fig.avg_latency_ms == pytest.approx(100.5)


async def test_figures_stay_in_their_workspace(ctx: Context, tenants: Tenants) -> None:
    await seed_log(ctx, tenants.acme_id, NOW)
    async with ctx.db.read_session(tenants.other_id) as s:
        fig = await analytics.figures(s, 90, now=NOW)
    assert (fig.commands, fig.linked_chats, fig.dispatches, fig.active_cooldowns) == (0, 0, 0, 0)


def test_days_are_checked() -> None:
    for bad in (0, -1, analytics.MAX_DAYS + 1):
        with pytest.raises(Invalid):
            analytics.check_days(bad)


async def seed_alerts(ctx: Context, workspace_id: int, now: datetime,
                      channel_id: int | None = None) -> None:
    """Chats at and just below each alert rule's threshold (see the alert tests)."""
    if channel_id is None:
        channel_id = await add_channel(ctx, workspace_id)
    await add_chats(ctx, workspace_id, channel_id, {"2001": "Probe Person"})
    hour = timedelta(hours=1)
    cmds = [
        # 2001: six different orders it does not own (one asked twice) within 24 hours.
        Cmd(now - 20 * hour, "2001", username="mallory",
            items=[("1", "not_yours"), ("2", "not_yours")]),
        Cmd(now - 10 * hour, "2001", username="mallory",
            items=[("3", "not_yours"), ("4", "not_yours"), ("1", "not_yours")]),
        Cmd(now - 2 * hour, "2001", username="mallory",
            items=[("5", "not_yours"), ("6", "not_yours"), ("7", "sent")]),
        # 2002: four only; 2003: seven, but 30 hours ago.
        Cmd(now - hour, "2002", items=[(str(i), "not_yours") for i in range(10, 14)]),
        Cmd(now - 30 * hour, "2003", items=[(str(i), "not_yours") for i in range(20, 27)]),
    ]
    # 2004: ten cooldown refusals; 2005: nine.
    cmds += [Cmd(now - i * hour, "2004", items=[(f"4{i}", "cooldown"), (f"5{i}", "cooldown")])
             for i in range(1, 6)]
    cmds += [Cmd(now - i * hour, "2005", items=[(f"6{i}", "cooldown")]) for i in range(1, 10)]
    # 2006: ten messages nobody understood; 2007: nine.
    cmds += [Cmd(now - timedelta(minutes=i), "2006", kind="unrecognized", action=None,
                 outcome="unrecognized", error_type="unrecognized", text=f"gibberish {i}")
             for i in range(1, 11)]
    cmds += [Cmd(now - timedelta(minutes=i), "2007", kind="unrecognized", action=None,
                 outcome="unrecognized", error_type="unrecognized", text=f"hmm {i}")
             for i in range(1, 10)]
    await write(ctx, workspace_id, channel_id, cmds)


async def test_alerts_fire_at_their_thresholds_and_not_below(ctx: Context,
                                                             tenants: Tenants) -> None:
    await seed_alerts(ctx, tenants.acme_id, NOW)
    async with ctx.db.read_session(tenants.acme_id) as s:
        found = await analytics.alerts(s, NOW)
    assert [(a.chat_id, a.kind, a.count) for a in found] == [
        ("2004", "cooldown", 10), ("2006", "unrecognized", 10), ("2001", "not_yours", 6)]
    probe = found[-1]
    assert probe.title == "Asked about 6 orders it does not own"
    assert probe.first_seen == NOW - timedelta(hours=20)
    assert probe.last_seen == NOW - timedelta(hours=2)
    assert (probe.username, probe.chat_title, probe.channel_key) == ("mallory", "Probe Person",
                                                                     "tg")
    assert probe.chat_pk is not None and probe.window_hours == 24
    assert found[0].title == "Hit cooldowns 10 times" and found[0].chat_pk is None


async def test_alerts_look_only_at_their_window(ctx: Context, tenants: Tenants) -> None:
    await seed_alerts(ctx, tenants.acme_id, NOW)
    async with ctx.db.read_session(tenants.acme_id) as s:
        # A day and a half later everything above has left the 24-hour windows.
        assert await analytics.alerts(s, NOW + timedelta(hours=36)) == []
        # Stricter rules fire for more chats.
        strict = tuple(analytics.AlertRule(r.kind, r.title, 4, r.window)
                       for r in analytics.ALERT_RULES)
        kinds = {(a.chat_id, a.kind) for a in await analytics.alerts(s, NOW, strict)}
    assert {("2001", "not_yours"), ("2002", "not_yours"), ("2005", "cooldown"),
            ("2007", "unrecognized")} <= kinds
    assert ("2003", "not_yours") not in kinds
