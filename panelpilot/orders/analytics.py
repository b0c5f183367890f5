"""Order-support analytics: the figures of the console's Analytics page and of
``GET /api/v1/workspaces/{slug}/orders/analytics``, read from the command and dispatch logs.

Every figure is an SQL aggregate that runs the same on SQLite and PostgreSQL; no query loads the
log's rows into Python, so a workspace with millions of commands costs a few indexed scans. The
functions take a session already scoped to the workspace.

What the words mean (the page and the README say the same):
- a *command* is one row of the command log: every message the order module handled, including
  the ones nobody understood;
- a command *failed* when the bot could not carry it out: the text was not understood
  (``kind = unrecognized``) or the panel could not be asked (``outcome = api_problem``). A
  refusal (not yours, cooldown, not eligible…) is the bot doing its job, counted under verdicts;
- *response time* is ``latency_ms`` of the commands the bot answered (unrecognized messages are
  left out: most get silence, and their parse takes no measurable time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from math import ceil
from typing import Any

from sqlalchemy import Date, case, cast, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.models import ChannelAccount
from panelpilot.chats.models import Chat
from panelpilot.orders.logs import FailedCommand, failed_commands
from panelpilot.orders.models import (
    CommandLog,
    CommandOrder,
    Dispatch,
    LinkedChat,
    OrderCooldown,
)
from panelpilot.outbox.models import OutboundMessage

PERIODS = (7, 30, 90)  # what the console offers; the API takes any length up to MAX_DAYS
DEFAULT_DAYS = 30
MAX_DAYS = 366
FAILED_LIMIT = 20  # rows of the failed-commands table in the figures


@dataclass(frozen=True)
class AlertRule:
    """When a chat's behaviour is worth a look: ``threshold`` events within ``window``."""

    kind: str
    title: str  # "{count}" is filled in
    threshold: int
    window: timedelta


# A chat that asks about other people's orders is probing for order ids; one that keeps
# hitting cooldowns is hammering a provider; a stream of gibberish is a bot or a lost user.
ALERT_RULES = (
    AlertRule("not_yours", "Asked about {count} orders it does not own", 5, timedelta(hours=24)),
    AlertRule("cooldown", "Hit cooldowns {count} times", 10, timedelta(hours=24)),
    AlertRule("unrecognized", "Sent {count} messages the bot did not understand", 10,
              timedelta(hours=24)),
)
ALERTS_PER_RULE = 50


@dataclass
class Count:
    label: str
    count: int


@dataclass
class ProviderCount:
    label: str  # the route's name, or "Fallback group"
    fallback: bool
    dispatches: int
    failed: int  # dispatches whose message could not be delivered


@dataclass
class Day:
    day: date
    commands: int
    failed: int


@dataclass
class Alert:
    kind: str
    title: str
    count: int
    first_seen: datetime  # within the rule's window: "since when"
    last_seen: datetime
    window_hours: int
    channel_id: int | None
    chat_id: str
    username: str | None = None
    chat_pk: int | None = None
    chat_title: str = ""
    channel_key: str | None = None


@dataclass
class Figures:
    days: int
    since: datetime  # the period: the last ``days`` calendar days (UTC), today included
    until: datetime
    linked_chats: int = 0
    linked_usernames: int = 0
    active_chats_today: int = 0
    commands_today: int = 0
    commands_month: int = 0
    commands: int = 0
    failed: int = 0
    unrecognized: int = 0
    api_problems: int = 0
    avg_latency_ms: float | None = None
    p95_latency_ms: int | None = None
    dispatches: int = 0
    cooldown_hits: int = 0
    active_cooldowns: int = 0
    actions: list[Count] = field(default_factory=list)
    verdicts: list[Count] = field(default_factory=list)
    providers: list[ProviderCount] = field(default_factory=list)
    daily: list[Day] = field(default_factory=list)
    failed_commands: list[FailedCommand] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    @property
    def failure_rate(self) -> float:
        return self.failed / self.commands if self.commands else 0.0


def check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        from panelpilot.errors import Invalid

        raise Invalid(f"days is between 1 and {MAX_DAYS}", field="days")
    return days


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _failed_condition() -> Any:
    return or_(CommandLog.kind == "unrecognized", CommandLog.outcome == "api_problem")


def _day_of(session: AsyncSession, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, on either database."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    if dialect == "postgresql":
        # timestamptz: take the day in UTC, not in the server's time zone. A literal, not a
        # bound parameter, so that GROUP BY repeats exactly the expression SELECT has.
        return cast(func.timezone(literal_column("'UTC'"), column), Date)
    # SQLite keeps UTC text ("2025-02-10 16:42:15.000000"); date() cuts the day off it.
    return func.date(column)


async def _scalar(session: AsyncSession, query: Any) -> Any:
    return (await session.execute(query)).scalar()


async def _count_commands(session: AsyncSession, since: datetime, until: datetime) -> int:
    return int(await _scalar(session, select(func.count()).select_from(CommandLog).where(
        CommandLog.created_at >= since, CommandLog.created_at < until)) or 0)


async def p95_latency(session: AsyncSession, since: datetime, until: datetime) -> int | None:
    """The 95th percentile (nearest rank) of the answered commands' response times.

    SQLite has no percentile function and PostgreSQL's ``percentile_cont`` is not portable, so
    this counts the rows, then asks the database for the one value at rank ceil(0.95 n) with
    ORDER BY … LIMIT 1 OFFSET rank-1. The database sorts (or walks an index); one number comes
    back, whatever the size of the log.
    """
    answered = (CommandLog.created_at >= since, CommandLog.created_at < until,
                CommandLog.kind != "unrecognized")
    n = int(await _scalar(session, select(func.count()).select_from(CommandLog)
                          .where(*answered)) or 0)
    if n == 0:
        return None
    rank = ceil(0.95 * n)
    value = await _scalar(session, select(CommandLog.latency_ms).where(*answered)
                          .order_by(CommandLog.latency_ms).limit(1).offset(rank - 1))
    return int(value) if value is not None else None


async def failed_error_types(session: AsyncSession, since: datetime,
                             until: datetime) -> list[Count]:
    """How many unrecognized messages of each error type (typo, unrecognized…) in the period."""
    rows = (await session.execute(
        select(CommandLog.error_type, func.count())
        .where(CommandLog.kind == "unrecognized", CommandLog.created_at >= since,
               CommandLog.created_at < until)
        .group_by(CommandLog.error_type))).all()
    return sorted((Count(t or "unrecognized", n) for t, n in rows), key=lambda c: -c.count)


async def _actions(session: AsyncSession, since: datetime, until: datetime) -> list[Count]:
    # Grouped by the two plain columns and merged here: few distinct pairs, and no CASE
    # expression whose bound literals PostgreSQL would not match between SELECT and GROUP BY.
    rows = (await session.execute(
        select(CommandLog.kind, CommandLog.action, func.count())
        .where(CommandLog.created_at >= since, CommandLog.created_at < until)
        .group_by(CommandLog.kind, CommandLog.action))).all()
    merged: dict[str, int] = {}
    for kind, action, count in rows:
        label = "unrecognized" if kind == "unrecognized" else (action or kind)
        merged[label] = merged.get(label, 0) + int(count)
    return sorted((Count(k, v) for k, v in merged.items()), key=lambda c: (-c.count, c.label))


async def _verdicts(session: AsyncSession, since: datetime, until: datetime) -> list[Count]:
    rows = (await session.execute(
        select(CommandOrder.verdict, func.count())
        .join(CommandLog, CommandLog.id == CommandOrder.command_id)
        .where(CommandLog.created_at >= since, CommandLog.created_at < until)
        .group_by(CommandOrder.verdict))).all()
    return sorted((Count(v, int(n)) for v, n in rows), key=lambda c: (-c.count, c.label))


async def _providers(session: AsyncSession, since: datetime,
                     until: datetime) -> list[ProviderCount]:
    failed = func.sum(case((OutboundMessage.status == "failed", 1), else_=0))
    rows = (await session.execute(
        select(Dispatch.route_name, Dispatch.fallback, func.count(), failed)
        .outerjoin(OutboundMessage, OutboundMessage.id == Dispatch.message_id)
        .where(Dispatch.created_at >= since, Dispatch.created_at < until)
        .group_by(Dispatch.route_name, Dispatch.fallback))).all()
    out = [ProviderCount(name or ("Fallback group" if fb else "(no route)"), bool(fb),
                         int(n), int(f or 0)) for name, fb, n, f in rows]
    return sorted(out, key=lambda p: (-p.dispatches, p.label))


async def _daily(session: AsyncSession, since: datetime, until: datetime,
                 days: int) -> list[Day]:
    day = _day_of(session, CommandLog.created_at)
    failed = func.sum(case((_failed_condition(), 1), else_=0))
    rows = (await session.execute(
        select(day, func.count(), failed)
        .where(CommandLog.created_at >= since, CommandLog.created_at < until)
        .group_by(day))).all()
    found: dict[date, tuple[int, int]] = {}
    for value, count, bad in rows:
        key = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        found[key] = (int(count), int(bad or 0))
    first = since.date()
    # Every day of the period, the quiet ones as zeros: a chart without gaps.
    return [Day(d, *found.get(d, (0, 0)))
            for d in (first + timedelta(days=i) for i in range(days))]


async def alerts(session: AsyncSession, now: datetime | None = None,
                 rules: tuple[AlertRule, ...] = ALERT_RULES) -> list[Alert]:
    """Chats whose recent behaviour crossed a rule's threshold, the busiest first."""
    now = now or datetime.now(UTC)
    found: list[Alert] = []
    for rule in rules:
        since = now - rule.window
        if rule.kind == "unrecognized":
            counted: Any = func.count()
            query = (select(CommandLog.channel_id, CommandLog.chat_id, counted,
                            func.min(CommandLog.created_at), func.max(CommandLog.created_at),
                            func.max(CommandLog.username))
                     .where(CommandLog.kind == "unrecognized"))
        else:
            # Distinct orders for probing (asking twice about one order is not probing);
            # every refused order for cooldowns.
            counted = (func.count(func.distinct(CommandOrder.order_id))
                       if rule.kind == "not_yours" else func.count())
            query = (select(CommandLog.channel_id, CommandLog.chat_id, counted,
                            func.min(CommandLog.created_at), func.max(CommandLog.created_at),
                            func.max(CommandLog.username))
                     .join(CommandOrder, CommandOrder.command_id == CommandLog.id)
                     .where(CommandOrder.verdict == rule.kind))
        query = (query.where(CommandLog.created_at >= since, CommandLog.created_at <= now,
                             CommandLog.chat_id.is_not(None))
                 .group_by(CommandLog.channel_id, CommandLog.chat_id)
                 .having(counted >= rule.threshold)
                 .order_by(counted.desc()).limit(ALERTS_PER_RULE))
        for channel_id, chat_id, count, first, last, username in (
                await session.execute(query)).all():
            found.append(Alert(rule.kind, rule.title.format(count=count), int(count), first,
                               last, int(rule.window.total_seconds() // 3600), channel_id,
                               chat_id, username))
    await _name_chats(session, found)
    return sorted(found, key=lambda a: (-a.count, a.kind))


async def _name_chats(session: AsyncSession, found: list[Alert]) -> None:
    """Fill in each alert's chat (title, id for the link) and channel key."""
    channel_ids = {a.channel_id for a in found if a.channel_id is not None}
    if not channel_ids:
        return
    keys = dict((await session.execute(
        select(ChannelAccount.id, ChannelAccount.key)
        .where(ChannelAccount.id.in_(channel_ids)))).all())
    rows = (await session.execute(
        select(Chat.id, Chat.channel_id, Chat.chat_id, Chat.title)
        .where(Chat.channel_id.in_(channel_ids),
               Chat.chat_id.in_({a.chat_id for a in found})))).all()
    chats: dict[tuple[int | None, str], tuple[int, str]] = {
        (channel_id, chat_id): (pk, title) for pk, channel_id, chat_id, title in rows}
    for alert in found:
        alert.channel_key = keys.get(alert.channel_id) if alert.channel_id else None
        pk_title = chats.get((alert.channel_id, alert.chat_id))
        if pk_title is not None:
            alert.chat_pk, alert.chat_title = pk_title[0], pk_title[1] or ""


async def figures(session: AsyncSession, days: int = DEFAULT_DAYS, *,
                  now: datetime | None = None, failed_limit: int = FAILED_LIMIT,
                  failed_error_type: str | None = None) -> Figures:
    """Every figure of the Analytics page for the last ``days`` days (today included)."""
    check_days(days)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    today = _midnight(now)
    since = today - timedelta(days=days - 1)
    until = now + timedelta(microseconds=1)  # rows written at this very instant count too
    out = Figures(days=days, since=since, until=now)
    period = (CommandLog.created_at >= since, CommandLog.created_at < until)

    linked = (await session.execute(
        select(func.count(), func.count(func.distinct(func.lower(LinkedChat.username))))
        .select_from(LinkedChat))).one()
    out.linked_chats, out.linked_usernames = int(linked[0]), int(linked[1])
    chats_today = (select(CommandLog.channel_id, CommandLog.chat_id)
                   .where(CommandLog.created_at >= today, CommandLog.created_at < until,
                          CommandLog.chat_id.is_not(None)).distinct().subquery())
    out.active_chats_today = int(await _scalar(
        session, select(func.count()).select_from(chats_today)) or 0)
    out.commands_today = await _count_commands(session, today, until)
    out.commands_month = await _count_commands(session, today.replace(day=1), until)

    totals = (await session.execute(select(
        func.count(),
        func.sum(case((CommandLog.kind == "unrecognized", 1), else_=0)),
        func.sum(case((CommandLog.outcome == "api_problem", 1), else_=0)),
    ).where(*period))).one()
    out.commands = int(totals[0])
    out.unrecognized, out.api_problems = int(totals[1] or 0), int(totals[2] or 0)
    out.failed = out.unrecognized + out.api_problems  # an unrecognized row has no API outcome
    avg = await _scalar(session, select(func.avg(CommandLog.latency_ms))
                        .where(*period, CommandLog.kind != "unrecognized"))
    out.avg_latency_ms = round(float(avg), 1) if avg is not None else None
    out.p95_latency_ms = await p95_latency(session, since, until)

    out.actions = await _actions(session, since, until)
    out.verdicts = await _verdicts(session, since, until)
    out.providers = await _providers(session, since, until)
    out.dispatches = sum(p.dispatches for p in out.providers)
    out.cooldown_hits = next((v.count for v in out.verdicts if v.label == "cooldown"), 0)
    out.active_cooldowns = int(await _scalar(
        session, select(func.count()).select_from(OrderCooldown)
        .where(OrderCooldown.until > now)) or 0)
    out.daily = await _daily(session, since, until, days)
    # The same query as the failed-commands log (orders.logs), over this period.
    out.failed_commands = await failed_commands(session, since=since,
                                                error_type=failed_error_type,
                                                limit=failed_limit)
    out.alerts = await alerts(session, now)
    return out
