"""Workspace-file sections of order support: ``providers``, ``linked_users``, ``support_chats``,
``rules`` and ``aliases`` (the panel and templates sections already exist).

Each follows the file rules: absent means none, applying twice changes nothing, errors name the
key at fault. ``linked_users`` manages the links it made (source ``file``); links customers made
themselves with a code, or admins made in a support chat or through the API, stay unless the
file names the same chat. Chats are named by the channel's key and the platform's chat id.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import select

from panelpilot.channels.models import ChannelAccount
from panelpilot.chats.models import Chat, ChatRole
from panelpilot.errors import Invalid
from panelpilot.orders import linking, routing
from panelpilot.orders.models import (
    LinkedChat,
    OrderSettings,
    ProviderRoute,
    ServiceOverride,
    SupportChat,
)
from panelpilot.orders.rules import (
    ACTIONS,
    OrderRules,
    check_aliases,
    override_export,
    override_values,
    parse_refill,
    parse_start,
    settings_row,
)
from panelpilot.workspaces.sections import Run, Section, SectionModel


class ChatRef(SectionModel):
    channel: str = Field(min_length=1, max_length=63)
    chat: str | int

    @field_validator("chat")
    @classmethod
    def _text(cls, value: str | int) -> str:
        text = str(value).strip()
        if not text or len(text) > 128:
            raise ValueError("a chat id is 1..128 characters")
        return text


async def _channel(run: Run, key: str, field: str) -> ChannelAccount:
    ch = (await run.session.execute(
        select(ChannelAccount).where(ChannelAccount.key == key))).scalar()
    if ch is None:
        raise Invalid(f"no channel {key!r} in this workspace (see the channels section)",
                      field=field)
    return ch


async def _chat(run: Run, ref: ChatRef, field: str) -> tuple[Chat, ChannelAccount]:
    ch = await _channel(run, ref.channel, f"{field}.channel")
    chat = await linking.chat_for(run.session, run.workspace.id, ch.id, ch.kind, ref.chat)
    return chat, ch


async def _chat_label(run: Run, chat_pk: int) -> tuple[str, str] | None:
    row = (await run.session.execute(
        select(ChannelAccount.key, Chat.chat_id).join(Chat, Chat.channel_id == ChannelAccount.id)
        .where(Chat.id == chat_pk))).first()
    return (row[0], row[1]) if row else None


# --- providers -----------------------------------------------------------------------------------


class ProviderModel(SectionModel):
    name: str = Field(min_length=1, max_length=100)
    match: list[str] = Field(default_factory=list)
    group: ChatRef | None = None
    commands: dict[str, str] = Field(default_factory=dict)
    bulk: bool = True

    @field_validator("commands")
    @classmethod
    def _actions(cls, value: dict[str, str]) -> dict[str, str]:
        for action, text in value.items():
            if action not in ACTIONS:
                raise ValueError(f"commands: {action!r} is not one of {', '.join(ACTIONS)}")
            if not text.strip() or len(text) > 1000:
                raise ValueError(f"commands.{action}: 1..1000 characters")
        return value

    @field_validator("match")
    @classmethod
    def _terms(cls, value: list[str]) -> list[str]:
        terms = [t.strip() for t in value if t.strip()]
        if any(len(t) > 200 for t in terms):
            raise ValueError("a match term is at most 200 characters")
        return terms


class ProvidersSection(Section):
    """``providers:`` routes from the provider an order names to a provider group."""

    name = "providers"
    model = list[ProviderModel]

    async def apply(self, run: Run, value: list[ProviderModel] | None) -> None:
        items = value or []
        names = [p.name for p in items]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise Invalid(f"provider names must be unique: {', '.join(dupes)}")
        clashes = routing.overlapping_terms((p.name, p.match) for p in items)
        if clashes:
            raise Invalid("; ".join(clashes))
        existing = {r.name: r for r in (await run.session.execute(select(ProviderRoute)))
                    .scalars()}
        # Groups routes sent to before this file: those no route uses afterwards are freed.
        old_groups = {(r.channel_id, r.chat_id) for r in existing.values()}
        for name, old in existing.items():
            if name not in names:
                await run.session.delete(old)
                run.changed(f"provider {name} removed")
        for n, item in enumerate(items):
            channel_id = chat_id = None
            if item.group is not None:
                chat, _ = await _chat(run, item.group, f"{n}.group")
                if chat.role == ChatRole.SUPPORT:
                    raise Invalid(f"chat {chat.chat_id} is a support chat", field=f"{n}.group")
                if await linking.linked_username(run.session, chat.id):
                    await linking.unlink(run.session, chat)
                if chat.role != ChatRole.PROVIDER_GROUP:
                    chat.role = ChatRole.PROVIDER_GROUP
                channel_id, chat_id = chat.channel_id, chat.chat_id
            values = {"match": item.match, "channel_id": channel_id, "chat_id": chat_id,
                      "commands": dict(item.commands), "bulk": item.bulk}
            row = existing.get(item.name)
            if row is None:
                run.session.add(ProviderRoute(workspace_id=run.workspace.id, name=item.name,
                                              source="file", **values))
                run.changed(f"provider {item.name} created")
            elif any(getattr(row, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(row, k, v)
                run.changed(f"provider {item.name} updated")
        await run.session.flush()
        from panelpilot.orders.admin import release_group

        for channel_id, chat_id in old_groups:
            await release_group(run.session, channel_id, chat_id)

    async def export(self, run: Run, secrets: dict[str, str]) -> list[dict[str, Any]] | None:
        out = []
        for row in (await run.session.execute(
                select(ProviderRoute).order_by(ProviderRoute.name))).scalars():
            item: dict[str, Any] = {"name": row.name}
            if row.match:
                item["match"] = list(row.match)
            if row.channel_id and row.chat_id:
                key = (await run.session.execute(select(ChannelAccount.key).where(
                    ChannelAccount.id == row.channel_id))).scalar()
                item["group"] = {"channel": key, "chat": row.chat_id}
            if row.commands:
                item["commands"] = dict(row.commands)
            if not row.bulk:
                item["bulk"] = False
            out.append(item)
        return out or None


# --- linked users ---------------------------------------------------------------------------------


class LinkedUserModel(ChatRef):
    username: str = Field(min_length=1, max_length=100)


class LinkedUsersSection(Section):
    """``linked_users:`` chats linked to panel usernames by the file."""

    name = "linked_users"
    model = list[LinkedUserModel]

    async def apply(self, run: Run, value: list[LinkedUserModel] | None) -> None:
        wanted: dict[int, tuple[str, str]] = {}
        for n, item in enumerate(value or []):
            chat, _ = await _chat(run, item, str(n))
            if chat.id in wanted:
                raise Invalid(f"chat {item.chat} is listed twice", field=f"{n}.chat")
            try:
                linking.check_username(item.username)
            except Invalid as exc:
                raise Invalid(exc.message, field=f"{n}.username") from None
            if chat.role in (ChatRole.SUPPORT, ChatRole.PROVIDER_GROUP):
                raise Invalid(f"chat {item.chat} is a {chat.role.replace('_', ' ')} chat",
                              field=f"{n}.chat")
            wanted[chat.id] = (item.username, f"{item.channel}:{chat.chat_id}")
        rows = list((await run.session.execute(select(LinkedChat))).scalars())
        for old in rows:
            if old.source == "file" and old.chat_pk not in wanted:
                where = await _chat_label(run, old.chat_pk)
                gone = await run.session.get(Chat, old.chat_pk)
                if gone is not None:
                    await linking.unlink(run.session, gone)
                run.changed(f"{':'.join(where) if where else old.chat_pk} unlinked")
        by_chat = {r.chat_pk: r for r in rows}
        for chat_pk, (username, label) in wanted.items():
            row = by_chat.get(chat_pk)
            if row is not None and row.username == username and row.source == "file":
                continue
            target = await run.session.get(Chat, chat_pk)
            assert target is not None
            await linking.link(run.session, run.workspace.id, target, username, source="file",
                               by="workspace file")
            run.changed(f"{label} linked to {username}")

    async def export(self, run: Run, secrets: dict[str, str]) -> list[dict[str, Any]] | None:
        rows = await run.session.execute(
            select(ChannelAccount.key, Chat.chat_id, LinkedChat.username)
            .join(Chat, Chat.id == LinkedChat.chat_pk)
            .join(ChannelAccount, ChannelAccount.id == Chat.channel_id)
            .order_by(LinkedChat.username, ChannelAccount.key, Chat.chat_id))
        return [{"channel": k, "chat": c, "username": u} for k, c, u in rows.all()] or None


# --- support chats ------------------------------------------------------------------------------


class SupportChatModel(ChatRef):
    fallback: bool = False


class SupportChatsSection(Section):
    """``support_chats:`` the team's chats (any order, admin commands, optional fallback)."""

    name = "support_chats"
    model = list[SupportChatModel]

    async def apply(self, run: Run, value: list[SupportChatModel] | None) -> None:
        items = value or []
        if sum(1 for i in items if i.fallback) > 1:
            raise Invalid("only one support chat can be the fallback group")
        wanted: dict[int, tuple[bool, str]] = {}
        for n, item in enumerate(items):
            chat, _ = await _chat(run, item, str(n))
            if chat.role == ChatRole.PROVIDER_GROUP:
                raise Invalid(f"chat {item.chat} is a provider group", field=f"{n}.chat")
            wanted[chat.id] = (item.fallback, f"{item.channel}:{chat.chat_id}")
        for row in list((await run.session.execute(select(SupportChat))).scalars()):
            if row.chat_pk not in wanted:
                where = await _chat_label(run, row.chat_pk)
                await linking.drop_support(run.session, row)
                run.changed(f"support chat {':'.join(where) if where else row.chat_pk} removed")
        for chat_pk, (fallback, label) in wanted.items():
            target = await run.session.get(Chat, chat_pk)
            assert target is not None
            if await linking.make_support(run.session, run.workspace.id, target,
                                          fallback=fallback, source="file"):
                run.changed(f"support chat {label} set" + (" (fallback)" if fallback else ""))

    async def export(self, run: Run, secrets: dict[str, str]) -> list[dict[str, Any]] | None:
        rows = await run.session.execute(
            select(ChannelAccount.key, Chat.chat_id, SupportChat.fallback)
            .join(Chat, Chat.id == SupportChat.chat_pk)
            .join(ChannelAccount, ChannelAccount.id == Chat.channel_id)
            .order_by(ChannelAccount.key, Chat.chat_id))
        out = []
        for key, chat_id, fallback in rows.all():
            item: dict[str, Any] = {"channel": key, "chat": chat_id}
            if fallback:
                item["fallback"] = True
            out.append(item)
        return out or None


# --- rules ----------------------------------------------------------------------------------------


class ServiceRuleModel(SectionModel):
    start: str | None = None
    refill: str | int | None = None
    note: str = Field(default="", max_length=300)

    @field_validator("start")
    @classmethod
    def _start(cls, value: str | None) -> str | None:
        if value is not None:
            parse_start(value)
        return value

    @field_validator("refill")
    @classmethod
    def _refill(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_refill(value)
        return value


class RulesModel(OrderRules):
    services: dict[str, ServiceRuleModel] = Field(default_factory=dict)


async def apply_overrides(run: Run, services: dict[str, ServiceRuleModel], source: str) -> None:
    existing = {o.service_id: o for o in (await run.session.execute(
        select(ServiceOverride))).scalars()}
    for service_id, old in existing.items():
        if service_id not in services and old.source == source:
            await run.session.delete(old)
            run.changed(f"service rule {service_id} removed")
    for service_id, rule in services.items():
        values = override_values(rule.start, rule.refill, rule.note)
        row = existing.get(service_id)
        if row is None:
            run.session.add(ServiceOverride(workspace_id=run.workspace.id,
                                            service_id=service_id[:64], source=source, **values))
            run.changed(f"service rule {service_id} set")
        elif any(getattr(row, k) != v for k, v in values.items()) or row.source != source:
            for k, v in values.items():
                setattr(row, k, v)
            row.source = source
            run.changed(f"service rule {service_id} updated")


class RulesSection(Section):
    """``rules:`` cooldowns, id cap, strict mode, refill window, keywords, tickets, services."""

    name = "rules"
    model = RulesModel

    async def apply(self, run: Run, value: RulesModel | None) -> None:
        value = value or RulesModel()
        document = value.model_dump(exclude={"services"}, exclude_defaults=True)
        row = await settings_row(run.session, run.workspace.id)
        if (row.rules or {}) != document:
            row.rules = document
            run.changed("order rules updated")
        await apply_overrides(run, value.services, "file")

    async def export(self, run: Run, secrets: dict[str, str]) -> dict[str, Any] | None:
        row = (await run.session.execute(select(OrderSettings))).scalar()
        out: dict[str, Any] = dict(row.rules or {}) if row else {}
        services = {o.service_id: override_export(o) for o in (await run.session.execute(
            select(ServiceOverride).order_by(ServiceOverride.service_id))).scalars()}
        if services:
            out["services"] = services
        return out or None


# --- aliases -------------------------------------------------------------------------------------


class AliasesSection(Section):
    """``aliases:`` the workspace's own command words, in any language: word -> command."""

    name = "aliases"
    model = dict[str, str]

    async def apply(self, run: Run, value: dict[str, str] | None) -> None:
        try:
            aliases = check_aliases(value or {})
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        row = await settings_row(run.session, run.workspace.id)
        if (row.aliases or {}) != aliases:
            row.aliases = aliases
            run.changed("aliases updated")

    async def export(self, run: Run, secrets: dict[str, str]) -> dict[str, str] | None:
        row = (await run.session.execute(select(OrderSettings))).scalar()
        return dict(row.aliases or {}) if row and row.aliases else None


SECTIONS: list[Section] = [ProvidersSection(), SupportChatsSection(), LinkedUsersSection(),
                           RulesSection(), AliasesSection()]
