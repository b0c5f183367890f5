"""Order-support configuration as the API and the console change it: provider routes, linked
chats, support chats, rules and aliases, service rules, and a dry run of a command.

Functions take a workspace session and raise ``Invalid``/``NotFound``; the interfaces turn
those into answers. The workspace file (``sections.py``) applies the same changes in bulk.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.models import ChannelAccount
from panelpilot.chats import service as chats
from panelpilot.chats.models import Chat, ChatRole
from panelpilot.context import Context
from panelpilot.errors import Invalid, NotFound
from panelpilot.orders import linking, routing
from panelpilot.orders.grammar import parse_command
from panelpilot.orders.models import (
    LinkedChat,
    OrderSettings,
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


def rule_errors(rules: dict[str, Any]) -> dict[str, str]:
    """Every problem of a rules document, by field path (``max_ids``, ``cooldown_minutes.speed``,
    ``tickets.lookback_hours``…), worded for a person; empty when ``set_settings`` accepts it."""
    from pydantic import ValidationError

    out: dict[str, str] = {}
    try:
        OrderRules.model_validate(rules)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            out.setdefault(where, _worded(error))
    cooldowns = rules.get("cooldown_minutes")
    if out and isinstance(cooldowns, dict):
        # The range check of the cooldowns runs only once all of them are numbers: check
        # each one alone too, so that every wrong cooldown is named at once.
        for action, minutes in cooldowns.items():
            try:
                OrderRules.model_validate({"cooldown_minutes": {action: minutes}})
            except ValidationError as exc:
                for error in exc.errors():
                    out.setdefault(f"cooldown_minutes.{action}", _worded(error))
        out = {k: v for k, v in out.items() if k != "cooldown_minutes"
               or not any(key.startswith("cooldown_minutes.") for key in out)}
    return out


def _worded(error: Any) -> str:
    kind, limits = error.get("type", ""), error.get("ctx") or {}
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "enter a whole number"
    if kind == "greater_than_equal":
        return f"enter {limits.get('ge')} or more"
    if kind == "less_than_equal":
        return f"enter {limits.get('le')} or less"
    if kind in ("bool_parsing", "bool_type"):
        return "choose yes or no"
    if kind == "literal_error":
        return f"choose one of {limits.get('expected', 'the listed values')}"
    message = str(error.get("msg", "this value is not valid"))
    return message.removeprefix("Value error, ")


async def set_alias(session: AsyncSession, workspace_id: int, word: str,
                    target: str) -> str | None:
    """Add a workspace alias, or point an existing one (same spelling, any case) elsewhere;
    returns the command it meant before, or None when it is new."""
    _, aliases = await get_settings(session)
    word = word.strip()
    same = [w for w in aliases if w.casefold() == word.casefold()]
    before = aliases[same[0]] if same else None
    for w in same:
        del aliases[w]
    try:
        checked = check_aliases({word: target})
    except ValueError as exc:
        raise Invalid(str(exc), field="target" if word and len(word) <= 60 else "word") \
            from None
    await set_settings(session, workspace_id, aliases={**aliases, **checked})
    return before


async def remove_alias(session: AsyncSession, workspace_id: int, word: str) -> bool:
    """Forget a workspace alias (any case); returns whether there was one."""
    _, aliases = await get_settings(session)
    kept = {w: t for w, t in aliases.items() if w.casefold() != word.strip().casefold()}
    if len(kept) == len(aliases):
        return False
    await set_settings(session, workspace_id, aliases=kept)
    return True


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


def check_command(action: str, text: str) -> None:
    """A command template: 1..1000 characters whose braces name values ``command_text`` fills
    in (anything else would reach the provider group exactly as written)."""
    if not text.strip() or len(text) > 1000:
        raise Invalid(f"commands.{action}: 1..1000 characters", field="commands")
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError:
        raise Invalid(f"commands.{action}: a brace has no pair (write {{{{ or }}}} for a brace "
                      "the provider should see)", field="commands") from None
    known = ", ".join("{" + v + "}" for v in routing.COMMAND_VALUES)
    for name in names:
        if name not in routing.COMMAND_VALUES:
            raise Invalid(f"commands.{action}: {{{name}}} is not a value the bot fills in "
                          f"(use {known})", field="commands")


def _check_route(body: RouteIn) -> None:
    if not body.name.strip() or len(body.name) > 100:
        raise Invalid("a provider name is 1..100 characters", field="name")
    for action, text in body.commands.items():
        if action not in ACTIONS:
            raise Invalid(f"commands: {action!r} is not one of {', '.join(ACTIONS)}",
                          field="commands")
        check_command(action, text)
    if any(len(t) > 200 for t in body.match):
        raise Invalid("a match term is at most 200 characters", field="match")
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
    old_group = (route.channel_id, route.chat_id)
    route.name, route.match, route.commands, route.bulk = name, match, dict(body.commands), \
        body.bulk
    route.channel_id, route.chat_id = channel_id, chat_id
    await session.flush()
    if old_group != (channel_id, chat_id):
        await release_group(session, *old_group)
    return route


async def delete_route(session: AsyncSession, route: ProviderRoute) -> None:
    """Remove a route, and free its group for other roles when no other route sends there."""
    group = (route.channel_id, route.chat_id)
    await session.delete(route)
    await session.flush()
    await release_group(session, *group)


async def release_group(session: AsyncSession, channel_id: int | None,
                         chat_id: str | None) -> None:
    # A chat stays a provider group while any route sends to it. Left as one after its last
    # route went, it could never be linked or made a support chat again (both refuse
    # provider groups), so it goes back to "not decided".
    if not channel_id or not chat_id:
        return
    chat = await chats.find(session, channel_id, chat_id)
    if chat is None or chat.role != ChatRole.PROVIDER_GROUP:
        return
    used = (await session.execute(
        select(ProviderRoute.id).where(ProviderRoute.channel_id == channel_id,
                                       ProviderRoute.chat_id.in_({chat_id, chat.chat_id}))
        .limit(1))).first()
    if used is None:
        chat.role = ChatRole.UNKNOWN
        await session.flush()


# Two orders as a panel reports them, for previews of what a provider group would receive.
SAMPLE_ORDERS = (
    routing.Item("2274209", "EXT-99812", "smmprovider.com", "https://instagram.com/p/Cx1", 1000),
    routing.Item("2274210", "EXT-99813", "smmprovider.com", "https://instagram.com/p/Cx2", 500),
)


@dataclass
class CommandPreview:
    """What a provider group would receive for one action: one order, and two in one message."""

    action: str
    template: str
    default: bool  # no template of its own: the default wording
    one: str
    two: str | None  # None when the route sends one message per order
    problem: str = ""  # why the template would be refused


def preview_commands(commands: dict[str, str], bulk: bool,
                     provider: str = "") -> list[CommandPreview]:
    """Each action's command rendered by ``routing.command_text``, as a dispatch renders it."""
    out = []
    for action in ACTIONS:
        own = (commands.get(action) or "").strip()
        template = own or routing.DEFAULT_COMMAND
        problem = ""
        try:
            check_command(action, template)
        except Invalid as exc:
            problem = exc.message.removeprefix(f"commands.{action}: ")
        items = [routing.Item(i.order_id, i.external_id, provider or i.provider, i.link,
                              i.quantity) for i in SAMPLE_ORDERS]
        one = routing.command_text(template, action, items[:1])
        two = routing.command_text(template, action, items) if bulk else None
        out.append(CommandPreview(action, template, not own, one, two, problem))
    return out


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


async def remove_support_chat(session: AsyncSession, support_id: int) -> Chat | None:
    """Stop treating a chat as the team's; returns that chat."""
    row = (await session.execute(
        select(SupportChat).where(SupportChat.id == support_id))).scalar()
    if row is None:
        raise NotFound("no such support chat")
    chat = await session.get(Chat, row.chat_pk)
    await linking.drop_support(session, row)
    return chat


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


async def delete_service_rule(session: AsyncSession, service_id: str) -> None:
    row = (await session.execute(
        select(ServiceOverride).where(ServiceOverride.service_id == service_id))).scalar()
    if row is None:
        raise NotFound("no rule for this service")
    await session.delete(row)
    await session.flush()


async def services_status(session: AsyncSession) -> dict[str, Any]:
    """How the catalogue refresh went: last success, last attempt, last error, size."""
    from sqlalchemy import func

    row = (await session.execute(select(OrderSettings))).scalar()
    count = (await session.execute(select(func.count()).select_from(ServiceCache))).scalar_one()
    overridden = (await session.execute(
        select(func.count()).select_from(ServiceOverride))).scalar_one()
    return {"refreshed_at": row.services_refreshed_at if row else None,
            "checked_at": row.services_checked_at if row else None,
            "error": row.services_error if row else "",
            "services": int(count), "overrides": int(overridden)}


# Filters of the catalogue: what a workspace may need a rule for.
SERVICE_FILTERS = {
    "unknown_start": "start window unknown",
    "unknown_refill": "refill policy unknown",
    "overridden": "has a rule of yours",
}


def _service_order(sid: str) -> tuple[int, int, str]:
    return (0, int(sid), sid) if sid.isdigit() else (1, 0, sid)


async def services_view(session: AsyncSession, *, q: str | None, limit: int,
                        after: str | None, show: str | None = None) -> list[dict[str, Any]]:
    """The cached catalogue with what decides each service (parsed name, admin rule).

    ``q``: part of the id or name; ``show``: one of ``SERVICE_FILTERS``; ``after``: the
    next page starts after this id."""
    if show is not None and show not in SERVICE_FILTERS:
        raise Invalid(f"show: one of {', '.join(SERVICE_FILTERS)}", field="show")
    rules, _, _ = await load_rules(session)
    overrides = {o.service_id: o for o in (await session.execute(
        select(ServiceOverride))).scalars()}
    query = select(ServiceCache).order_by(ServiceCache.service_id)
    if q:
        query = query.where(or_(ServiceCache.name.icontains(q, autoescape=True),
                                ServiceCache.service_id.contains(q, autoescape=True)))
    if show == "overridden":
        query = query.where(ServiceCache.service_id.in_(list(overrides)))
    rows = list((await session.execute(query)).scalars())
    ids = [r.service_id for r in rows]
    # Rules for services not (yet) in the catalogue are listed too, so none is invisible.
    listed = set(ids)
    ids += [sid for sid in overrides if sid not in listed and (not q or q in sid)]
    by_id = {r.service_id: r for r in rows}
    ids.sort(key=_service_order)
    if after is not None:
        ids = [s for s in ids if _service_order(s) > _service_order(after)]
    out: list[dict[str, Any]] = []
    for sid in ids:
        if len(out) >= limit:
            break
        view = _service_view(sid, by_id.get(sid), overrides.get(sid), rules)
        if (show == "unknown_start" and view["start"] == "unknown") or (
                show == "unknown_refill" and view["refill"] == "unknown") or show in (
                None, "overridden"):
            out.append(view)
    return out


async def service_detail(session: AsyncSession, service_id: str) -> dict[str, Any] | None:
    """One service as ``services_view`` shows it, or None when it is neither in the
    catalogue nor has a rule."""
    cache = (await session.execute(
        select(ServiceCache).where(ServiceCache.service_id == service_id))).scalar()
    override = (await session.execute(
        select(ServiceOverride).where(ServiceOverride.service_id == service_id))).scalar()
    if cache is None and override is None:
        return None
    rules, _, _ = await load_rules(session)
    return _service_view(service_id, cache, override, rules)


def _service_view(sid: str, cache: ServiceCache | None, override: ServiceOverride | None,
                  rules: OrderRules) -> dict[str, Any]:
    from panelpilot.orders.checks import resolve_service
    from panelpilot.orders.service_rules import describe_refill, describe_window
    from panelpilot.orders.workflow import override_of

    rule = resolve_service(sid, cache.name if cache else None,
                           override_of(override) if override else None,
                           rules.keywords.keywords(), rules.default_window)
    return {
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
    }


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
