"""The sections of a workspace file and the registry that orders them.

Each section validates its part of the file with a pydantic model, applies it inside the one
transaction of the whole apply (recording every change it makes), and exports the current
state back. A section that is absent from a file means "none": applying removes what it held.
Features add their own section by appending to ``SECTIONS`` in the order they depend on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.drivers import ChannelCreds
from panelpilot.context import Context
from panelpilot.panels import service as panels
from panelpilot.tenancy.models import Workspace


class SectionModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


@dataclass
class Run:
    """One apply or export: the scoped session, the workspace and what changed."""

    ctx: Context
    session: AsyncSession
    workspace: Workspace
    changes: list[str] = field(default_factory=list)
    # Calls to outside systems (setWebhook…) made once the transaction has committed; each
    # returns a line for the report.
    after_commit: list[Callable[[], Awaitable[str | None]]] = field(default_factory=list)

    def changed(self, what: str) -> None:
        self.changes.append(what)

    def env_name(self, *parts: str) -> str:
        """The environment variable an exported secret is referred to by."""
        slug = self.workspace.slug.upper().replace("-", "_")
        return "_".join(["PANELPILOT", slug, *(p.upper().replace("-", "_") for p in parts)])


class Section:
    name: ClassVar[str]
    model: ClassVar[type[BaseModel]]
    required: ClassVar[bool] = False

    async def apply(self, run: Run, value: Any | None) -> None:
        raise NotImplementedError

    async def export(self, run: Run, secrets: dict[str, str]) -> Any | None:
        """The section's current state; secrets go into ``secrets`` as env name -> value."""
        raise NotImplementedError


class WorkspaceModel(SectionModel):
    slug: str = Field(max_length=63)
    name: str = Field(min_length=1, max_length=200)
    plan: str | None = Field(default=None, max_length=63)
    status: Literal["active", "suspended"] | None = None


class WorkspaceSection(Section):
    name = "workspace"
    model = WorkspaceModel
    required = True

    async def apply(self, run: Run, value: WorkspaceModel | None) -> None:
        assert value is not None
        ws = run.workspace
        if ws.name != value.name:
            ws.name = value.name
            run.changed(f"workspace name set to {value.name!r}")
        if value.plan is not None and ws.plan != value.plan:
            ws.plan = value.plan
            run.changed(f"workspace plan set to {value.plan!r}")
        if value.status is not None and ws.status != value.status:
            ws.status = value.status
            run.changed(f"workspace status set to {value.status}")

    async def export(self, run: Run, secrets: dict[str, str]) -> dict[str, Any]:
        ws = run.workspace
        out: dict[str, Any] = {"slug": ws.slug, "name": ws.name}
        if ws.plan:
            out["plan"] = ws.plan
        out["status"] = ws.status
        return out


class PanelModel(SectionModel):
    type: Literal["perfectpanel", "rental"]
    url: str = Field(max_length=500)
    api_key: str = Field(min_length=1, max_length=500)
    user_api_key: str | None = Field(default=None, max_length=500)


class PanelSection(Section):
    name = "panel"
    model = PanelModel

    async def apply(self, run: Run, value: PanelModel | None) -> None:
        if value is None:
            if await panels.delete_connection(run.session):
                run.changed("panel connection removed")
            return
        existed = await panels.get_connection(run.session) is not None
        _, changed = await panels.set_connection(
            run.session, run.ctx.keyring, run.workspace.id, panel_type=value.type,
            url=value.url, api_key=value.api_key, user_api_key=value.user_api_key,
            clear_user_api_key=value.user_api_key is None,
        )
        if changed:
            run.changed("panel connection " + ("updated" if existed else "created"))

    async def export(self, run: Run, secrets: dict[str, str]) -> dict[str, Any] | None:
        from panelpilot.vault.store import reveal

        conn = await panels.get_connection(run.session)
        if conn is None:
            return None
        key_env = run.env_name("PANEL_API_KEY")
        secrets[key_env] = reveal(run.ctx.keyring, conn.api_key)
        out: dict[str, Any] = {"type": conn.panel_type, "url": conn.base_url,
                               "api_key": f"${{{key_env}}}"}
        if conn.user_api_key is not None:
            user_env = run.env_name("PANEL_USER_API_KEY")
            secrets[user_env] = reveal(run.ctx.keyring, conn.user_api_key)
            out["user_api_key"] = f"${{{user_env}}}"
        return out


class ChannelModel(SectionModel):
    key: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
    type: Literal["telegram", "greenapi", "meta"]
    mode: Literal["webhook", "polling"] = "webhook"
    enabled: bool = True
    token: str | None = None
    id_instance: str | int | None = None
    api_token: str | None = None
    api_url: str | None = None
    phone_number_id: str | int | None = None
    access_token: str | None = None
    app_secret: str | None = None
    verify_token: str | None = None


class ChannelsSection(Section):
    """``channels:`` a list of channel accounts (Telegram bots, Green API, Meta numbers)."""

    name = "channels"
    model = list[ChannelModel]

    async def apply(self, run: Run, value: list[ChannelModel] | None) -> None:
        from panelpilot.channels import service as channels

        items = value or []
        keys = [c.key for c in items]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            from panelpilot.errors import Invalid

            raise Invalid(f"channel keys must be unique: {', '.join(sorted(duplicates))}")
        for ch in await channels.list_channels(run.session):
            if ch.key not in keys:
                creds = await channels.delete_channel(run.session, run.ctx.keyring, ch)
                run.changed(f"channel {ch.key} removed")
                run.after_commit.append(_disconnect(run.ctx, creds))
        for item in items:
            existed = any(ch.key == item.key for ch in await channels.list_channels(run.session))
            fields = {k: str(v) for k, v in item.model_dump(
                exclude={"key", "type", "mode", "enabled"}, exclude_none=True).items()}
            ch, changed = await channels.set_channel(
                run.session, run.ctx.keyring, run.workspace.id, key=item.key, kind=item.type,
                mode=item.mode, fields=fields, enabled=item.enabled)
            if changed:
                run.changed(f"channel {item.key} " + ("updated" if existed else "created"))
                run.after_commit.append(_connect(run.ctx, ch.id, item.key))

    async def export(self, run: Run, secrets: dict[str, str]) -> list[dict[str, Any]] | None:
        from panelpilot.channels import service as channels
        from panelpilot.vault.store import reveal

        out = []
        for ch in await channels.list_channels(run.session):
            item: dict[str, Any] = {"key": ch.key, "type": ch.kind, "mode": ch.mode}
            if ch.status == "disabled":
                item["enabled"] = False
            secret_names, plain_names = channels.FIELDS[ch.kind]
            for name in plain_names:
                if (ch.config or {}).get(name):
                    item[name] = ch.config[name]
            stored = {next(iter(secret_names)): ch.token, "app_secret": ch.app_secret,
                      "verify_token": ch.hook_secret if ch.kind == "meta" else None}
            for name, secret in stored.items():
                if secret is not None and name in secret_names:
                    env = run.env_name("CHANNEL", ch.key, name)
                    secrets[env] = reveal(run.ctx.keyring, secret)
                    item[name] = f"${{{env}}}"
            out.append(item)
        return out or None


def _connect(ctx: Context, channel_id: int, key: str) -> Callable[[], Awaitable[str | None]]:
    async def connect() -> str | None:
        from panelpilot.channels.service import connect as do_connect

        ok, detail = await do_connect(ctx, channel_id)
        return f"channel {key} connected" if ok else f"channel {key}: set-up failed ({detail})"

    return connect


def _disconnect(ctx: Context, creds: ChannelCreds) -> Callable[[], Awaitable[str | None]]:
    async def disconnect() -> str | None:
        from panelpilot.channels.service import disconnect as do_disconnect

        return await do_disconnect(ctx, creds) or None

    return disconnect


class TemplatesSection(Section):
    """``templates:`` the workspace's own wording, key -> text; absent keys use the default:
    the platform owner's default wording when there is one (what a new workspace starts with),
    else the built-in wording."""

    name = "templates"
    model = dict[str, str]

    async def apply(self, run: Run, value: dict[str, str] | None) -> None:
        from panelpilot.templates import service as templates
        from panelpilot.templates.defaults import platform_texts

        wanted = {**await platform_texts(run.session), **(value or {})}
        for key in await templates.overrides(run.session):
            if key not in wanted and await templates.reset_template(run.session, key):
                run.changed(f"template {key} reset to the default")
        for key, text in wanted.items():
            if await templates.set_template(run.session, run.workspace.id, key, text):
                run.changed(f"template {key} set")

    async def export(self, run: Run, secrets: dict[str, str]) -> dict[str, str] | None:
        from panelpilot.templates import service as templates

        return dict(sorted((await templates.overrides(run.session)).items())) or None


SECTIONS: list[Section] = [WorkspaceSection(), PanelSection(), ChannelsSection(),
                           TemplatesSection()]

# Order support: providers, support_chats, linked_users, rules, aliases (after channels: they
# name chats by channel key). Imported here, at the end, because they build on Section.
from panelpilot.orders.sections import SECTIONS as ORDER_SECTIONS  # noqa: E402

SECTIONS += ORDER_SECTIONS


def section_names() -> list[str]:
    return [s.name for s in SECTIONS]
