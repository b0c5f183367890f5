"""Order-support configuration as the API and the console change it: provider routes, linked
chats, support chats, rules and aliases, service rules, and a dry run of a command.

Functions take a workspace session and raise ``Invalid``/``NotFound``; the interfaces turn
those into answers. The workspace file (``sections.py``) applies the same changes in bulk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.models import ChannelAccount
from panelpilot.chats.models import Chat, ChatRole
from panelpilot.context import Context
from panelpilot.errors import Invalid, NotFound
from panelpilot.orders import linking, routing
from panelpilot.orders.grammar import parse_command
from panelpilot.orders.models import (
    LinkedChat,
    ProviderRoute,
    ServiceCache,
    ServiceOverride,
    SupportChat,
)
from panelpilot.orders.rules import (
    ACTIONS,
    OrderRules,
    check_aliases,
    override_values,
    parse_refill,
    parse_start,
    settings_row,
)
from panelpilot.orders.rules import load as load_rules


async def channel_by_key(session: AsyncSession, key: str) -> ChannelAccount:
    ch = (await session.execute(select(ChannelAccount).where(ChannelAccount.key == key))).scalar()
    if ch is None:
        raise Invalid(f"no channel {key!r} in this workspace", field="channel")
    return ch


async def chat_by_ref(session: AsyncSession, workspace_id: int, channel: str,
                      chat_id: str) -> tuple[Chat, ChannelAccount]:
    ch = await channel_by_key(session, channel)
    if not str(chat_id).strip() or len(str(chat_id)) > 128:
        raise Invalid("a chat id is 1..128 characters", field="chat")
    return await linking.chat_for(session, workspace_id, ch.id, ch.kind, chat_id), ch


# --- settings ----------------------------------------------------------------------------------


async def get_settings(session: AsyncSession) -> tuple[OrderRules, dict[str, str]]:
    rules, aliases, _ = await load_rules(session)
    return rules, aliases


async def set_settings(session: AsyncSession, workspace_id: int, *,
                       rules: dict[str, Any] | None = None,
                       aliases: dict[str, str] | None = None) -> None:
    row = await settings_row(session, workspace_id)
    if rules is not None:
        try:
            parsed = OrderRules.model_validate(rules)
        except ValueError as exc:
            raise Invalid(_first_error(exc), field="rules") from None
        row.rules = parsed.model_dump(exclude_defaults=True)
    if aliases is not None:
        try:
            row.aliases = check_aliases(aliases)
        except ValueError as exc:
            raise Invalid(str(exc), field="aliases") from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg', '')}" if where else str(first.get("msg", ""))
    return str(exc)


# --- provider routes ---------------------------------------------------------------------------


@dataclass
class RouteIn:
    name: str
    match: list[str]
    channel: str | None
    chat: str | None
    commands: dict[str, str]
    bulk: bool = True


def _check_route(body: RouteIn) -> None:
    if not body.name.strip() or len(body.name) > 100:
        raise Invalid("a provider name is 1..100 characters", field="name")
    for action, text in body.commands.items():
        if action not in ACTIONS:
            raise Invalid(f"commands: {action!r} is not one of {', '.join(ACTIONS)}",
                          field="commands")
        if not text.strip() or len(text) > 1000:
            raise Invalid(f"commands.{action}: 1..1000 characters", field="commands")
    if (body.channel is None) != (body.chat is None):
        raise Invalid("a group needs both channel and chat", field="chat")


async def save_route(session: AsyncSession, workspace_id: int, body: RouteIn,
                     route: ProviderRoute | None = None) -> ProviderRoute:
    """Create (``route`` None) or replace a provider route."""
    _check_route(body)
    name = body.name.strip()
    others = [r for r in (await session.execute(select(ProviderRoute))).scalars()
              if route is None or r.id != route.id]
    if any(r.name == name for r in others):
        raise Invalid(f"there is already a provider named {name!r}", field="name")
    match = [t.strip() for t in body.match if t.strip()]
    clashes = routing.overlapping_terms([(r.name, r.match or []) for r in others]
                                        + [(name, match)])
    if clashes:
        raise Invalid("; ".join(clashes), field="match")
    channel_id = chat_id = None
    if body.channel is not None and body.chat is not None:
        chat, _ = await chat_by_ref(session, workspace_id, body.channel, body.chat)
        if chat.role == ChatRole.SUPPORT:
            raise Invalid("that chat is a support chat", field="chat")
        if await linking.linked_username(session, chat.id):
            raise Invalid("that chat is linked to a customer: unlink it first", field="chat")
        chat.role = ChatRole.PROVIDER_GROUP
        channel_id, chat_id = chat.channel_id, chat.chat_id
    if route is None:
        route = ProviderRoute(workspace_id=workspace_id, name=name, source="api")
        session.add(route)
    route.name, route.match, route.commands, route.bulk = name, match, dict(body.commands), \
        body.bulk
    route.channel_id, route.chat_id = channel_id, chat_id
    await session.flush()
    return route


async def get_route(session: AsyncSession, route_id: int) -> ProviderRoute:
    route = (await session.execute(
        select(ProviderRoute).where(ProviderRoute.id == route_id))).scalar()
    if route is None:
        raise NotFound("no such provider route")
    return route


# --- linked chats and support chats ------------------------------------------------------------


async def link_chat(session: AsyncSession, workspace_id: int, channel: str, chat_id: str,
                    username: str, by: str) -> LinkedChat:
    chat, _ = await chat_by_ref(session, workspace_id, channel, chat_id)
    await linking.link(session, workspace_id, chat, username, source="api", by=by)
    return (await session.execute(
        select(LinkedChat).where(LinkedChat.chat_pk == chat.id))).scalar_one()


async def add_support_chat(session: AsyncSession, workspace_id: int, channel: str,
                           chat_id: str, fallback: bool) -> SupportChat:
    chat, _ = await chat_by_ref(session, workspace_id, channel, chat_id)
    await linking.make_support(session, workspace_id, chat, fallback=fallback, source="api")
    return (await session.execute(
        select(SupportChat).where(SupportChat.chat_pk == chat.id))).scalar_one()


# --- service rules -------------------------------------------------------------------------------


async def set_service_rule(session: AsyncSession, workspace_id: int, service_id: str, *,
                           start: str | None, refill: str | int | None,
                           note: str = "") -> ServiceOverride:
    if not service_id.strip() or len(service_id) > 64:
        raise Invalid("a service id is 1..64 characters", field="service_id")
    if start is None and refill is None:
        raise Invalid("give a start window, a refill policy, or both", field="start")
    try:
        if start is not None:
            parse_start(start)
    except ValueError as exc:
        raise Invalid(str(exc), field="start") from None
    try:
        if refill is not None:
            parse_refill(refill)
    except ValueError as exc:
        raise Invalid(str(exc), field="refill") from None
    values = override_values(start, refill, note[:300])
    row = (await session.execute(
        select(ServiceOverride).where(ServiceOverride.service_id == service_id))).scalar()
    if row is None:
        row = ServiceOverride(workspace_id=workspace_id, service_id=service_id, source="api")
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.source = "api"
    await session.flush()
    return row


async def services_view(session: AsyncSession, *, q: str | None, limit: int,
                        after: str | None) -> list[dict[str, Any]]:
    """The cached catalogue with what decides each service (parsed name, admin rule)."""
    from panelpilot.orders.checks import resolve_service
    from panelpilot.orders.service_rules import describe_refill, describe_window
    from panelpilot.orders.workflow import override_of

    rules, _, _ = await load_rules(session)
    overrides = {o.service_id: o for o in (await session.execute(
        select(ServiceOverride))).scalars()}
    query = select(ServiceCache).order_by(ServiceCache.service_id)
    if q:
        query = query.where(ServiceCache.name.ilike(f"%{q}%"))
    rows = list((await session.execute(query)).scalars())
    ids = [r.service_id for r in rows]
    # Rules for services not (yet) in the catalogue are listed too, so none is invisible.
    if not q:
        ids += [sid for sid in overrides if sid not in set(ids)]
    by_id = {r.service_id: r for r in rows}
    ids.sort(key=lambda s: (0, int(s), s) if s.isdigit() else (1, 0, s))
    if after is not None:
        key = (0, int(after), after) if after.isdigit() else (1, 0, after)
        ids = [s for s in ids if ((0, int(s), s) if s.isdigit() else (1, 0, s)) > key]
    out = []
    for sid in ids[:limit]:
        cache = by_id.get(sid)
        override = overrides.get(sid)
        rule = resolve_service(sid, cache.name if cache else None,
                               override_of(override) if override else None,
                               rules.keywords.keywords(), rules.default_window)
        out.append({
            "service_id": sid, "name": cache.name if cache else None,
            "category": cache.category if cache else None,
            "refill_button": cache.refill_button if cache else None,
            "cancel_button": cache.cancel_button if cache else None,
            "start": describe_window(rule.start), "start_from": rule.start_from,
            "refill": describe_refill(rule.refill), "refill_from": rule.refill_from,
            "evidence": list(rule.evidence),
            "override": ({"start_min_s": override.start_min_s,
                          "start_max_s": override.start_max_s,
                          "refill_kind": override.refill_kind,
                          "refill_days": override.refill_days, "note": override.note,
                          "source": override.source} if override else None),
            "refreshed_at": cache.refreshed_at if cache else None,
        })
    return out


# --- dry run ---------------------------------------------------------------------------------


async def dry_run(ctx: Context, workspace_id: int, text: str,
                  username: str | None) -> dict[str, Any]:
    """What a message would do for a linked ``username`` (None: as a support chat), without
    claiming cooldowns, dispatching or logging; the panel is asked for real."""
    from panelpilot.orders.workflow import Request, commit, evaluate, load_setup

    async with ctx.db.read_session(workspace_id) as session:
        setup = await load_setup(session)
    parsed = parse_command(text, aliases=setup.aliases, max_ids=setup.rules.max_ids)
    out: dict[str, Any] = {"kind": parsed.kind, "action": parsed.action,
                           "order_ids": parsed.order_ids, "error_type": parsed.error_type,
                           "suggestion": parsed.suggestion,
                           "corrected_from": parsed.corrected_from, "answer": None,
                           "verdicts": [], "dispatches": []}
    if parsed.kind not in ("order_action", "order"):
        return out
    action = parsed.action if parsed.kind == "order_action" else "status"
    assert action is not None
    source = "console" if username else "support"
    plan = await evaluate(ctx, workspace_id,
                          Request(action, parsed.order_ids, username, source, text), setup=setup)
    async with ctx.db.read_session(workspace_id) as session:
        outcome = await commit(session, plan, key_prefix="dry-run", dry_run=True)
    out["answer"] = outcome.answer
    out["api_problem"] = plan.api_problem
    out["verdicts"] = [{"order_id": v.order_id, "verdict": v.verdict,
                        "reason": v.values.get("reason"), "detail": v.detail,
                        "status": v.order.status if v.order else None,
                        "provider": v.order.provider if v.order else None,
                        "external_id": v.order.external_id if v.order else None}
                       for v in outcome.verdicts]
    out["dispatches"] = outcome.dispatches
    return out
