"""Every console route, enumerated from the app: an outsider gets 404 and changes nothing, an
agent gets 403 for every change, and only the platform owner sees the master admin."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from panelpilot.channels import service as channels
from panelpilot.channels.models import ChannelAccount
from panelpilot.chats.models import Chat
from panelpilot.console.routing import ConsoleRoute
from panelpilot.context import Context
from panelpilot.outbox.models import OutboundAttempt, OutboundMessage
from panelpilot.panels import service as panels
from panelpilot.panels.connection import PanelConnection
from panelpilot.templates import service as templates
from panelpilot.templates.models import Template
from panelpilot.tenancy.models import ApiToken, Membership, Workspace
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OUTSIDER, OWNER, post
from tests.console.isolation_parts import PARTS
from tests.console.logdata import add_chat, add_event, add_outbound
from tests.support import Tenants

# A valid form for every POST route, so that a refusal is the access rule and not a bad form.
BODIES: dict[str, dict[str, str]] = {
    "/w/{slug}/panel": {"type": "perfectpanel", "url": "https://changed.test",
                        "api_key": "changed-key-0123456789"},
    "/w/{slug}/panel/test": {},
    "/w/{slug}/panel/delete": {},
    "/w/{slug}/channels": {"type": "telegram", "key": "sneaky", "mode": "polling",
                           "token": "999:sneaky"},
    "/w/{slug}/channels/{key}": {"mode": "polling", "token": "999:changed"},
    "/w/{slug}/channels/{key}/connect": {},
    "/w/{slug}/channels/{key}/disable": {},
    "/w/{slug}/channels/{key}/enable": {},
    "/w/{slug}/channels/{key}/delete": {},
    "/w/{slug}/templates/{template_key}": {"text": "Sneaky wording"},
    "/w/{slug}/templates/{template_key}/preview": {"text": "Sneaky wording"},
    "/w/{slug}/templates/{template_key}/reset": {},
    "/w/{slug}/chats/{chat_pk}/role": {"role": "provider_group"},
    "/w/{slug}/outbox/{message_id}/retry": {},
    "/w/{slug}/members": {"email": "new@x.test", "role": "owner",
                          "password": "correct horse battery"},
    "/w/{slug}/members/{member_id}/role": {"role": "owner"},
    "/w/{slug}/members/{member_id}/remove": {},
    "/w/{slug}/tokens": {"name": "sneaky", "role": "owner", "expires": ""},
    "/w/{slug}/tokens/{token_id}/revoke": {},
    "/admin/workspaces": {"slug": "sneaky", "name": "Sneaky"},
    "/admin/workspaces/{slug}": {"name": "Renamed", "plan": "free"},
    "/admin/workspaces/{slug}/suspend": {},
    "/admin/workspaces/{slug}/resume": {},
}
for _part in PARTS:
    BODIES.update(_part.BODIES)
# Pages only owners may open (agents get 403): parts add theirs as OWNER_ONLY.
OWNER_ONLY = ("/w/{slug}/tokens", "/w/{slug}/channels/new") + tuple(
    p for part in PARTS for p in getattr(part, "OWNER_ONLY", ()))
OBJECT_PARAMS = ("{member_id}", "{token_id}", "{key}", "{chat_pk}", "{event_id}",
                 "{message_id}") + tuple(p for part in PARTS for p in part.OBJECT_PARAMS)


def _walk(routes: list[Any]) -> list[Any]:
    out = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        out += _walk(included.routes) if included is not None else [route]
    return out


def console_routes(app: FastAPI) -> list[tuple[str, str]]:
    out = []
    for route in _walk(app.routes):
        if isinstance(route, ConsoleRoute):
            out += [(method, route.path) for method in sorted(route.methods or ())]
    return sorted(out)


def workspace_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p in console_routes(app) if p.startswith("/w/{slug}")]


def admin_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p in console_routes(app) if p.startswith("/admin")]


async def _seed(ctx: Context, tenants: Tenants) -> dict[str, str]:
    """Give acme one of everything; return the ids that fill the route placeholders."""
    async with ctx.db.session(tenants.acme_id) as s:
        await panels.set_connection(s, ctx.keyring, tenants.acme_id, panel_type="perfectpanel",
                                    url="https://acme-panel.test", api_key="acme-key-0123456789")
        ch, _ = await channels.set_channel(s, ctx.keyring, tenants.acme_id, key="tg",
                                           kind="telegram", mode="webhook",
                                           fields={"token": "123:acme"})
        await templates.set_template(s, tenants.acme_id, "help", "Acme's own help")
        member = (await s.execute(select(Membership).order_by(Membership.id.desc()))).scalar()
        token = (await s.execute(select(ApiToken).order_by(ApiToken.id))).scalar()
        assert member is not None and token is not None
        channel_id = ch.id
    chat_pk = await add_chat(ctx, tenants.acme_id, channel_id, "5512345", role="customer")
    event_id = await add_event(ctx, tenants.acme_id, channel_id, chat_id="5512345",
                               text="2274209 refill")
    message_id = await add_outbound(ctx, tenants.acme_id, channel_id, chat_id="5512345",
                                    text="Acme's answer", status="failed", reason="blocked",
                                    source_event_id=event_id,
                                    attempts=((False, "blocked", "Forbidden"),))
    ids = {"slug": "acme", "member_id": str(member.id), "token_id": str(token.id), "key": "tg",
           "template_key": "help", "chat_pk": str(chat_pk), "event_id": str(event_id),
           "message_id": str(message_id), "channel_id": str(channel_id)}
    for part in PARTS:
        ids.update(await part.seed(ctx, tenants, dict(ids)))
    return ids


async def snapshot(ctx: Context, workspace_id: int) -> dict[str, Any]:
    """Everything a console route could change in a workspace."""
    async with ctx.db.session(workspace_id) as s:
        ws = (await s.execute(select(Workspace))).scalar_one()
        conn = (await s.execute(select(PanelConnection))).scalar()
        return {
            "workspace": (ws.name, ws.status, ws.plan),
            "members": sorted((m.id, m.user_id, m.role) for m in
                              (await s.execute(select(Membership))).scalars()),
            "tokens": sorted((t.id, t.name, t.revoked_at) for t in
                             (await s.execute(select(ApiToken))).scalars()),
            "panel": (conn.base_url, conn.panel_type, conn.api_key.ciphertext,
                      conn.last_test_at) if conn else None,
            "channels": sorted((c.key, c.status, c.mode, c.token.ciphertext, str(c.config))
                               for c in (await s.execute(select(ChannelAccount))).scalars()),
            "templates": sorted((t.key, t.text) for t in
                                (await s.execute(select(Template))).scalars()),
            "chats": sorted((c.id, c.role) for c in (await s.execute(select(Chat))).scalars()),
            "outbox": sorted((o.id, o.status, o.attempts, o.next_attempt_at) for o in
                             (await s.execute(select(OutboundMessage))).scalars()),
            "attempts": len((await s.execute(select(OutboundAttempt))).scalars().all()),
            **{f"{part.__name__}.{k}": v for part in PARTS
               for k, v in (await part.snapshot(ctx, s)).items()},
        }


async def _workspace_count(ctx: Context) -> int:
    async with ctx.db.platform_session() as s:
        return len((await s.execute(select(Workspace))).scalars().all())


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


def test_every_post_route_has_a_body(app: FastAPI) -> None:
    posts = {p for m, p in console_routes(app) if m == "POST"
             and (p.startswith("/w/") or p.startswith("/admin"))}
    assert posts == set(BODIES), "add a valid form for new POST routes to BODIES"
    assert len(workspace_routes(app)) >= 20


async def test_outsider_gets_404_for_every_workspace_route(
    ctx: Context, app: FastAPI, clients: ClientFactory, tenants: Tenants
) -> None:
    ids = await _seed(ctx, tenants)
    before = await snapshot(ctx, tenants.acme_id)
    outsider = await clients(OUTSIDER)
    routes = workspace_routes(app)
    for method, path in routes:
        url = _fill(path, ids)
        if method == "GET":
            r = await outsider.get(url)
        else:
            r = await post(outsider, url, BODIES[path])
        assert r.status_code == 404, (method, path, r.status_code)
        assert "Page not found" in r.text and "Acme" not in r.text
    assert await snapshot(ctx, tenants.acme_id) == before


async def test_outsider_cannot_reach_acme_objects_through_its_own_workspace(
    ctx: Context, app: FastAPI, clients: ClientFactory, tenants: Tenants
) -> None:
    ids = {**await _seed(ctx, tenants), "slug": "other"}
    before = await snapshot(ctx, tenants.acme_id)
    outsider = await clients(OUTSIDER)
    checked = 0
    for method, path in workspace_routes(app):
        if not any(name in path for name in OBJECT_PARAMS):
            continue
        url = _fill(path, ids)
        r = await (outsider.get(url) if method == "GET" else post(outsider, url, BODIES[path]))
        assert r.status_code == 404, (method, path, r.status_code)
        checked += 1
    assert checked >= 13
    assert await snapshot(ctx, tenants.acme_id) == before


async def test_agent_is_refused_every_change(
    ctx: Context, app: FastAPI, clients: ClientFactory, tenants: Tenants
) -> None:
    ids = await _seed(ctx, tenants)
    before = await snapshot(ctx, tenants.acme_id)
    agent = await clients(AGENT)
    for method, path in workspace_routes(app):
        url = _fill(path, ids)
        if method == "GET":
            r = await agent.get(url)
            expected = 403 if path.startswith(OWNER_ONLY) else 200
        else:
            r = await post(agent, url, BODIES[path])
            expected = 403
        assert r.status_code == expected, (method, path, r.status_code)
    assert await snapshot(ctx, tenants.acme_id) == before


async def test_agent_pages_show_no_forms_that_would_be_refused(
    ctx: Context, app: FastAPI, clients: ClientFactory, tenants: Tenants
) -> None:
    ids = await _seed(ctx, tenants)
    agent = await clients(AGENT)
    for method, path in workspace_routes(app):
        if method != "GET" or path.startswith(OWNER_ONLY):
            continue
        r = await agent.get(_fill(path, ids))
        forms = re.findall(r'<form method="post" action="([^"]+)"', r.text)
        assert forms == ["/logout"], (path, forms)
        assert "read-only" in r.text
    assert "API tokens" not in (await agent.get("/w/acme")).text


async def test_owner_opens_every_page(
    ctx: Context, app: FastAPI, clients: ClientFactory, tenants: Tenants
) -> None:
    ids = await _seed(ctx, tenants)
    owner = await clients(OWNER)
    for method, path in workspace_routes(app):
        if method == "GET":
            r = await owner.get(_fill(path, ids))
            assert r.status_code == 200, (path, r.status_code)


@pytest.mark.parametrize("email", [OWNER, AGENT, OUTSIDER])
async def test_only_the_platform_owner_sees_the_master_admin(
    ctx: Context, app: FastAPI, clients: ClientFactory, tenants: Tenants, email: str
) -> None:
    before = (await snapshot(ctx, tenants.acme_id), await _workspace_count(ctx))
    person = await clients(email)
    for method, path in admin_routes(app):
        url = _fill(path, {"slug": "acme"})
        r = await (person.get(url) if method == "GET" else post(person, url, BODIES[path]))
        assert r.status_code == 404, (email, method, path, r.status_code)
    assert "Master admin" not in (await person.get("/account/password")).text
    assert (await snapshot(ctx, tenants.acme_id), await _workspace_count(ctx)) == before


async def test_platform_owner_opens_every_page(
    ctx: Context, app: FastAPI, clients: ClientFactory, tenants: Tenants, root: str
) -> None:
    ids = await _seed(ctx, tenants)
    admin = await clients(root)
    for method, path in console_routes(app):
        if method == "GET" and path not in ("/login",):
            r = await admin.get(_fill(path, ids))
            assert r.status_code in (200, 303), (path, r.status_code)


async def test_forged_posts_change_nothing(
    ctx: Context, app: FastAPI, clients: ClientFactory, tenants: Tenants, root: str
) -> None:
    ids = await _seed(ctx, tenants)
    before = (await snapshot(ctx, tenants.acme_id), await _workspace_count(ctx))
    for email in (OWNER, root):
        person = await clients(email)
        for method, path in console_routes(app):
            if method != "POST" or path in ("/login",):
                continue
            body = BODIES.get(path, {})
            bad = await person.post(_fill(path, ids), data={**body, "csrf_token": "forged"})
            assert bad.status_code == 403, (path, bad.status_code)
            assert "The form could not be accepted" in bad.text
            missing = await person.post(_fill(path, ids), data=body)
            assert missing.status_code == 403, (path, missing.status_code)
    # A right token from a foreign page (the Origin header says so) is refused as well.
    owner = await clients(OWNER)
    r = await owner.post("/w/acme/panel/delete", headers={"origin": "https://evil.example"},
                         data={"csrf_token": (await owner.get("/w/acme")).text.split(
                             'name="csrf_token" value="')[1].split('"')[0]})
    assert r.status_code == 403
    assert (await snapshot(ctx, tenants.acme_id), await _workspace_count(ctx)) == before
