"""The order workflow shared by chats, support chats, panel tickets and the console's test.

Two steps, so that no database transaction waits on a panel:

1. ``evaluate`` (no transaction held): read the workspace's setup, fetch every order of the
   command from the panel in as few calls as it allows, and give each order a verdict:
   found, owned, allowed for the action (status, start window, refill policy and window), not
   cooling down, with an external id and a route.
2. ``commit`` (inside the caller's one transaction): claim each cooldown atomically (a unique
   row per workspace, order and action: of two identical requests at the same instant exactly
   one wins, on any number of workers), queue the provider commands (several orders for the
   same provider and action in one message), write the command, dispatch and panel-call logs,
   and render the customer's one compact answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.chats import service as chats
from panelpilot.chats.models import Chat
from panelpilot.context import Context
from panelpilot.db import fast
from panelpilot.db.base import utcnow
from panelpilot.db.inserts import dialect_insert
from panelpilot.orders import checks, routing
from panelpilot.orders.models import (
    CommandLog,
    CommandOrder,
    Dispatch,
    OrderCooldown,
    ProviderRoute,
    ServiceCache,
    ServiceOverride,
    SupportChat,
)
from panelpilot.orders.panel import CallRecord, Panel, open_panel, write_calls
from panelpilot.orders.rules import OrderRules
from panelpilot.orders.rules import load as load_rules
from panelpilot.orders.service_rules import RefillPolicy, StartWindow
from panelpilot.orders.templates import VERDICT_TEMPLATES, Line, compact, render_reason
from panelpilot.panels.base import PanelError, PanelOrder
from panelpilot.templates import service as templates

ORDER_ACTIONS = ("speed", "cancel", "refill")


@dataclass(frozen=True)
class Fallback:
    channel_id: int
    chat_id: str
    channel_kind: str


@dataclass
class Setup:
    """What a workspace has configured for order support, read once per command."""

    rules: OrderRules
    aliases: dict[str, str]
    routes: list[routing.RouteInfo]
    fallback: Fallback | None
    overrides: dict[str, checks.Override]


async def load_setup(session: AsyncSession) -> Setup:
    from panelpilot.channels.models import ChannelAccount

    rules, aliases, _ = await load_rules(session)
    rows = await session.execute(
        select(ProviderRoute, ChannelAccount.kind)
        .outerjoin(ChannelAccount, ChannelAccount.id == ProviderRoute.channel_id)
        .order_by(ProviderRoute.name))
    routes = []
    for r, kind in rows.all():
        chat_id = r.chat_id
        if r.channel_id and chat_id:
            # A Telegram group that became a supergroup has a new id; its old one is an alias.
            chat = await chats.find(session, r.channel_id, chat_id)
            chat_id = chat.chat_id if chat is not None else chat_id
        routes.append(routing.RouteInfo(
            r.id, r.name, tuple(str(t) for t in r.match or ()), r.channel_id, chat_id, kind,
            {str(k): str(v) for k, v in (r.commands or {}).items()}, r.bulk))
    fb = (await session.execute(
        select(Chat.channel_id, Chat.chat_id, ChannelAccount.kind)
        .join(SupportChat, SupportChat.chat_pk == Chat.id)
        .join(ChannelAccount, ChannelAccount.id == Chat.channel_id)
        .where(SupportChat.fallback.is_(True)).order_by(SupportChat.id).limit(1))).first()
    overrides = {o.service_id: override_of(o)
                 for o in (await session.execute(select(ServiceOverride))).scalars()}
    return Setup(rules, aliases, routes, Fallback(*fb) if fb else None, overrides)


def override_of(row: ServiceOverride) -> checks.Override:
    from datetime import timedelta

    start = None
    if row.start_max_s is not None:
        start = StartWindow(timedelta(seconds=row.start_min_s or 0),
                            timedelta(seconds=row.start_max_s))
    refill = None
    if row.refill_kind:
        refill = RefillPolicy(row.refill_kind, row.refill_days)  # type: ignore[arg-type]
    return checks.Override(start, refill)


@dataclass
class Request:
    """A command to run: an action on orders, for an owner (None: any order, support)."""

    action: str  # speed | cancel | refill | status
    order_ids: list[str]
    owner: str | None
    source: str  # chat | support | ticket | console
    text: str = ""
    channel_id: int | None = None
    chat_id: str | None = None
    kind: str = "order_action"
    corrected_from: str | None = None
    suggestion: str | None = None


@dataclass
class Verdict:
    order_id: str
    verdict: str  # sent | not_found | not_yours | not_eligible | too_early | cooldown | ...
    reason: str | None = None  # template key of the customer's reason
    values: dict[str, Any] = field(default_factory=dict)
    detail: str = ""  # for admins
    order: PanelOrder | None = None
    route: routing.RouteInfo | None = None
    fallback: bool = False
    dispatch_id: int | None = None
    dispatch_text: str | None = None


@dataclass
class Plan:
    workspace_id: int
    request: Request
    setup: Setup
    verdicts: list[Verdict] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    api_problem: str | None = None  # admin detail when the panel could not be asked
    started: float = field(default_factory=time.monotonic)


@dataclass
class Outcome:
    command_id: int | None
    answer: str
    verdicts: list[Verdict]
    dispatches: list[dict[str, Any]]


# --- step 1: evaluate ------------------------------------------------------------------------


async def evaluate(ctx: Context, workspace_id: int, request: Request, *,
                   panel: Panel | None = None, setup: Setup | None = None) -> Plan:
    """Fetch the orders and give each its verdict; no transaction is held meanwhile."""
    if setup is None:
        async with ctx.db.read_session(workspace_id) as session:
            setup = await load_setup(session)
    plan = Plan(workspace_id, request, setup)
    if panel is None:
        panel = await open_panel(ctx, workspace_id, purpose=request.source)
    if panel is None:
        plan.api_problem = "no panel connection: connect the panel first"
        return plan
    try:
        orders = await panel.get_orders(request.order_ids)
    except PanelError as exc:
        plan.api_problem = f"{exc.reason}: {exc.message}"
        return plan
    finally:
        plan.calls = list(panel.calls)
    now = utcnow()
    async with ctx.db.read_session(workspace_id) as session:
        names = await _cached_names(session, orders.values())
        cooling = await _active_cooldowns(session, request.action, list(orders), now)
    for order_id in request.order_ids:
        plan.verdicts.append(_verdict(order_id, orders.get(order_id), request, setup, names,
                                      cooling, now))
    return plan


async def _cached_names(session: AsyncSession, orders: Any) -> dict[str, str]:
    wanted = {o.service_id for o in orders if o.service_id and not o.service_name}
    if not wanted:
        return {}
    rows = await session.execute(select(ServiceCache.service_id, ServiceCache.name)
                                 .where(ServiceCache.service_id.in_(wanted)))
    return {sid: name for sid, name in rows.all()}


async def _active_cooldowns(session: AsyncSession, action: str, ids: list[str],
                            now: datetime) -> dict[str, datetime]:
    if action not in ORDER_ACTIONS or not ids:
        return {}
    rows = await session.execute(
        select(OrderCooldown.order_id, OrderCooldown.until)
        .where(OrderCooldown.action == action, OrderCooldown.order_id.in_(ids),
               OrderCooldown.until > now))
    return {oid: until for oid, until in rows.all()}


def service_rule_for(order: PanelOrder, setup: Setup, names: dict[str, str]
                     ) -> checks.ServiceRule:
    name = order.service_name or names.get(order.service_id or "")
    return checks.resolve_service(order.service_id, name,
                                  setup.overrides.get(order.service_id or ""),
                                  setup.rules.keywords.keywords(), setup.rules.default_window)


def _verdict(order_id: str, order: PanelOrder | None, request: Request, setup: Setup,
             names: dict[str, str], cooling: dict[str, datetime], now: datetime) -> Verdict:
    action = request.action
    if order is None:
        return Verdict(order_id, "not_found", detail="the panel does not know this order")
    if request.owner is not None and (order.user or "").lower() != request.owner.lower():
        # The customer only learns that the order is not theirs, never whose it is.
        return Verdict(order_id, "not_yours", order=order,
                       detail=f"the order belongs to {order.user!r}, not {request.owner!r}")
    if action == "status":
        return Verdict(order_id, "status", order=order, values=status_values(order),
                       detail=f"status {order.status}")
    rule = service_rule_for(order, setup, names)
    result = checks.check(order, action, rule, setup.rules, now)
    if not result.ok:
        return Verdict(order_id, result.verdict, result.reason, result.values,
                       f"{result.detail}; {rule.describe()}", order=order)
    if order_id in cooling:
        left = cooling[order_id] - now
        return Verdict(order_id, "cooldown", values={"time_left": checks.human(left)},
                       detail=f"cooldown until {cooling[order_id]:%Y-%m-%d %H:%M} UTC",
                       order=order)
    if not order.external_id:
        detail = (order.external_id_note if order.external_id_hidden
                  else "the order has no external id (not placed with a provider)")
        return Verdict(order_id, "provider_missing", detail=detail or "", order=order)
    route = routing.find_route(order.provider, setup.routes)
    if route is not None and route.has_group:
        return Verdict(order_id, "sent", order=order, route=route,
                       detail=f"route {route.name}; {result.detail}".strip("; "))
    missing = (f"provider route {route.name!r} has no group" if route is not None
               else f"no provider route matches {order.provider!r}")
    if setup.fallback is not None:
        return Verdict(order_id, "sent", order=order, fallback=True,
                       detail=f"{missing}: sent to the fallback support group")
    return Verdict(order_id, "route_missing", detail=missing, order=order)


def status_values(order: PanelOrder) -> dict[str, Any]:
    def show(value: object) -> str:
        return "?" if value is None else str(value)

    return {"status": order.status, "quantity": show(order.quantity),
            "start_count": show(order.start_count), "remains": show(order.remains),
            "service": order.service_name or "", "link": order.link or ""}


# --- step 2: commit --------------------------------------------------------------------------


async def commit(session: AsyncSession, plan: Plan, *, key_prefix: str,
                 event_id: int | None = None, ticket_id: str | None = None,
                 dry_run: bool = False) -> Outcome:
    """Claim cooldowns, queue provider commands, log everything, render the answer.

    Runs in the caller's transaction. ``dry_run`` changes nothing and says what would happen.
    """
    req, ws = plan.request, plan.workspace_id
    command: CommandLog | None = None
    if not dry_run:
        command = CommandLog(
            workspace_id=ws, created_at=utcnow(), source=req.source, channel_id=req.channel_id,
            chat_id=req.chat_id, username=req.owner, text=req.text[:4000], kind=req.kind,
            action=req.action, corrected_from=req.corrected_from, suggestion=req.suggestion,
            order_count=len(req.order_ids), event_id=event_id, ticket_id=ticket_id)
        session.add(command)
        await session.flush()
    command_id = command.id if command is not None else None
    if plan.api_problem is not None:
        answer = await templates.render(session, "api_problem")
        outcome = Outcome(command_id, answer, [], [])
    else:
        if not dry_run:
            await _claim_cooldowns(session, plan, command_id)
        dispatches = await _dispatch(session, plan, key_prefix, command_id, dry_run)
        answer = await _answer(session, plan)
        outcome = Outcome(command_id, answer, plan.verdicts, dispatches)
    if command is not None:
        for v in plan.verdicts:
            session.add(CommandOrder(
                workspace_id=ws, command_id=command.id, order_id=v.order_id, verdict=v.verdict,
                reason=str(v.values.get("reason", ""))[:300], detail=v.detail[:1000],
                status=v.order.status if v.order else None,
                provider=(v.order.provider or None) if v.order else None,
                external_id=v.order.external_id if v.order else None,
                dispatch_id=v.dispatch_id))
        write_calls(session, ws, plan.calls, command.id)
        command.outcome = summary(plan)
        command.detail = (plan.api_problem or "")[:1000]
        command.reply = answer
        command.latency_ms = int((time.monotonic() - plan.started) * 1000)
    return outcome


def summary(plan: Plan) -> str:
    if plan.api_problem is not None:
        return "api_problem"
    verdicts = {v.verdict for v in plan.verdicts}
    return verdicts.pop() if len(verdicts) == 1 else "mixed"


async def claim_cooldown(session: AsyncSession, workspace_id: int, order_id: str, action: str,
                         until: datetime, now: datetime, command_id: int | None,
                         requested_by: str) -> datetime | None:
    """Take the cooldown of one order and action; None if taken, else when the holder's ends.

    One statement, atomic on both databases: insert the row, or take it over only if it has
    run out. Of two transactions doing this at the same instant, the second waits for the
    first (a unique index) and then finds a cooldown that has not run out.
    """
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    values = {"workspace_id": workspace_id, "order_id": order_id, "action": action,
              "until": until, "command_id": command_id, "requested_by": requested_by[:200],
              "hits": 0, "created_at": now}
    stmt = dialect_insert(dialect)(OrderCooldown).values(**values).on_conflict_do_update(
        index_elements=["workspace_id", "order_id", "action"],
        set_={"until": until, "command_id": command_id, "requested_by": requested_by[:200],
              "hits": 0, "created_at": now},
        where=OrderCooldown.until <= now,
    ).returning(OrderCooldown.id)
    won = (await session.execute(stmt)).first()
    if won is not None:
        return None
    await session.execute(
        update(OrderCooldown)
        .where(OrderCooldown.order_id == order_id, OrderCooldown.action == action)
        .values(hits=OrderCooldown.hits + 1).execution_options(synchronize_session=False))
    held = (await session.execute(
        select(OrderCooldown.until).where(OrderCooldown.order_id == order_id,
                                          OrderCooldown.action == action))).scalar()
    return held or until


async def _claim_cooldowns(session: AsyncSession, plan: Plan, command_id: int | None) -> None:
    req = plan.request
    period = plan.setup.rules.cooldown(req.action)
    if req.action not in ORDER_ACTIONS or not period:
        return
    # The same instant for every claim, taken once we hold the write lock (SQLite).
    await session.execute(select(1))
    now = utcnow()
    who = req.owner or req.source
    held_back = [v.order_id for v in plan.verdicts if v.verdict == "cooldown"]
    if held_back:
        # Counted for the cooldown records (how often customers ask again too soon).
        await session.execute(
            update(OrderCooldown)
            .where(OrderCooldown.order_id.in_(held_back), OrderCooldown.action == req.action)
            .values(hits=OrderCooldown.hits + 1).execution_options(synchronize_session=False))
    for v in plan.verdicts:
        if v.verdict != "sent":
            continue
        held = await claim_cooldown(session, plan.workspace_id, v.order_id, req.action,
                                    now + period, now, command_id, who)
        if held is not None:
            v.verdict, v.route, v.fallback = "cooldown", None, False
            v.values = {"time_left": checks.human(held - now)}
            v.detail = f"another request took the cooldown first (until {held:%H:%M:%S} UTC)"


async def _dispatch(session: AsyncSession, plan: Plan, key_prefix: str,
                    command_id: int | None, dry_run: bool) -> list[dict[str, Any]]:
    from panelpilot.outbox.enqueue import enqueue
    from panelpilot.outbox.models import OutboundMessage

    action = plan.request.action
    groups: dict[tuple[Any, ...], list[Verdict]] = {}
    for v in plan.verdicts:
        if v.verdict != "sent" or v.order is None:
            continue
        key: tuple[Any, ...] = (("fallback", v.order.provider or "") if v.fallback
                                else ("route", v.route.id if v.route else 0))
        groups.setdefault(key, []).append(v)
    out: list[dict[str, Any]] = []
    n = 0
    fallback_template = None
    for key, verdicts in groups.items():
        if key[0] == "fallback":
            fb = plan.setup.fallback
            assert fb is not None
            if fallback_template is None:
                fallback_template = await _template_text(session, "fallback_dispatch")
            target: tuple[int | None, str, int, str, str, str, bool] = (
                None, "", fb.channel_id, fb.chat_id, fb.channel_kind, fallback_template,
                      True)
        else:
            route = verdicts[0].route
            assert route is not None and route.channel_id and route.chat_id
            target = (route.id, route.name, route.channel_id, route.chat_id,
                      route.channel_kind or "", route.command(action), route.bulk)
        route_id, route_name, channel_id, chat_id, kind, template, bulk = target
        items = [routing.Item(v.order_id, v.order.external_id or "", v.order.provider or "",
                              v.order.link, v.order.quantity) for v in verdicts if v.order]
        for batch in routing.batches(items, bool(bulk)):
            text = routing.command_text(str(template), action, batch)
            n += 1
            message_id = None
            dispatch_id = None
            if not dry_run:
                out_key = f"{key_prefix}:d{n}"
                await enqueue(session, plan.workspace_id, channel_id=int(channel_id),
                              kind=str(kind), chat_id=str(chat_id), text=text, key=out_key,
                              purpose="dispatch")
                message_id = (await session.execute(
                    select(OutboundMessage.id).where(
                        OutboundMessage.channel_id == channel_id,
                        OutboundMessage.idempotency_key.in_((out_key, f"{out_key}#1")))
                    .order_by(OutboundMessage.id).limit(1))).scalar()
                row = Dispatch(workspace_id=plan.workspace_id, created_at=utcnow(),
                               command_id=command_id, route_id=route_id,
                               route_name=str(route_name), provider=batch[0].provider[:200],
                               fallback=route_id is None, action=action,
                               channel_id=int(channel_id), chat_id=str(chat_id), text=text,
                               order_ids="," + ",".join(i.order_id for i in batch) + ",",
                               external_ids=[i.external_id for i in batch],
                               message_id=message_id)
                session.add(row)
                await session.flush()
                dispatch_id = row.id
            ids = {i.order_id for i in batch}
            for v in verdicts:
                if v.order_id in ids:
                    v.dispatch_id, v.dispatch_text = dispatch_id, text
            out.append({"route": route_name or None, "fallback": route_id is None,
                        "channel_id": channel_id, "chat_id": chat_id, "text": text,
                        "order_ids": [i.order_id for i in batch], "dispatch_id": dispatch_id})
    return out


async def _template_text(session: AsyncSession, key: str) -> str:
    own = (await templates.overrides(session)).get(key)
    return own if own is not None else templates.DEFAULTS.get(key, "")


async def _answer(session: AsyncSession, plan: Plan) -> str:
    action = plan.request.action
    lines: list[Line] = []
    for v in plan.verdicts:
        values = dict(v.values)
        values.setdefault("action", action)
        if v.reason:
            values["reason"] = await render_reason(session, v.reason, v.values)
            v.values["reason"] = values["reason"]
        lines.append(Line(v.order_id, VERDICT_TEMPLATES[v.verdict], values,
                          groupable=v.verdict != "status"))
    return await compact(session, lines)


# --- commands that are not order actions -------------------------------------------------------


def _command_row(
    workspace_id: int, *, source: str, kind: str, text: str, outcome: str, reply: str = "",
    channel_id: int | None = None, chat_id: str | None = None, username: str | None = None,
    action: str | None = None, detail: str = "", error_type: str | None = None,
    suggestion: str | None = None, corrected_from: str | None = None,
    started: float | None = None, event_id: int | None = None, ticket_id: str | None = None,
    order_ids: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id, "created_at": utcnow(), "source": source,
        "channel_id": channel_id, "chat_id": chat_id, "username": username,
        "text": text[:4000], "kind": kind, "action": action, "outcome": outcome[:40],
        "error_type": error_type, "suggestion": suggestion,
        "corrected_from": (corrected_from or None) and corrected_from[:100],
        "order_count": len(order_ids or []), "reply": reply, "detail": detail[:1000],
        "latency_ms": int((time.monotonic() - started) * 1000) if started is not None else 0,
        "event_id": event_id, "ticket_id": ticket_id}


async def log_command(session: AsyncSession, workspace_id: int, *,
                      calls: list[CallRecord] | None = None, **fields: Any) -> int:
    """Log a command that is not an order action (help, balance, link, unrecognized …), with
    the panel calls it made; returns its id. ``fields``: the columns, as ``_command_row``
    names them."""
    # One plain INSERT: most messages end here ("help", strict silence), so no ORM object.
    conn = await session.connection()
    row_id: int = (await fast.run(conn, _INSERT_COMMAND,
                                  _command_row(workspace_id, **fields))).scalar_one()
    if calls:
        write_calls(session, workspace_id, calls, row_id)
    return row_id


async def note_command(session: AsyncSession, workspace_id: int, *,
                       calls: list[CallRecord] | None = None, **fields: Any) -> None:
    """``log_command`` for a caller that needs no id: a command that made no panel calls is
    written with the transaction's other late writes (``fast.later``), one round trip for all
    the turns sharing it (its calls' rows would need its id at once)."""
    if calls:
        await log_command(session, workspace_id, calls=calls, **fields)
        return
    conn = await session.connection()
    await fast.later(conn, _NOTE_COMMAND, _command_row(workspace_id, **fields))


_NOTE_COMMAND = insert(CommandLog)
_INSERT_COMMAND = _NOTE_COMMAND.returning(CommandLog.id)
