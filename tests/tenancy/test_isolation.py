"""The cross-workspace matrix: owner, agent and outsider call every workspace endpoint."""

from __future__ import annotations

import re

import httpx
import pytest

from panelpilot.context import Context
from panelpilot.db import UnscopedQueryError
from panelpilot.tenancy.models import Membership
from panelpilot.web.app import create_app
from tests.orders.isolation import ORDER_BODIES, order_ids
from tests.support import Tenants

BODIES = {
    ("PATCH", "/api/v1/workspaces/{slug}"): {"name": "Renamed"},
    ("POST", "/api/v1/workspaces/{slug}/members"): {
        "email": "new@x.test", "role": "agent", "password": "correct horse battery"},
    ("PATCH", "/api/v1/workspaces/{slug}/members/{member_id}"): {"role": "agent"},
    ("POST", "/api/v1/workspaces/{slug}/tokens"): {"name": "t", "role": "agent"},
    ("PUT", "/api/v1/workspaces/{slug}/panel"): {
        "type": "perfectpanel", "url": "https://panel.test", "api_key": "k" * 20},
    ("PUT", "/api/v1/workspaces/{slug}/channels/{key}"): {
        "type": "telegram", "mode": "polling", "token": "123:abc"},
    ("PATCH", "/api/v1/workspaces/{slug}/chats/{chat_pk}"): {"role": "customer"},
    ("PUT", "/api/v1/workspaces/{slug}/templates/{template_key}"): {"text": "Hi"},
}
BODIES.update(ORDER_BODIES)
READS = {"GET"}


def workspace_routes(ctx: Context) -> list[tuple[str, str]]:
    out = []
    for path, operations in create_app(ctx).openapi()["paths"].items():
        if "{slug}" in path:
            out += [(method.upper(), path) for method in operations]
    assert len(out) >= 14, out
    return sorted(out)


async def _ids(ctx: Context, tenants: Tenants, client: httpx.AsyncClient) -> dict[str, str]:
    from sqlalchemy import select

    from panelpilot.tenancy.models import ApiToken

    await client.put("/api/v1/workspaces/acme/panel", headers=Tenants.auth(tenants.owner),
                     json=BODIES[("PUT", "/api/v1/workspaces/{slug}/panel")])
    from panelpilot.channels.service import set_channel
    from panelpilot.chats.service import touch
    from panelpilot.outbox.enqueue import enqueue
    from panelpilot.outbox.models import OutboundMessage

    async with ctx.db.session(tenants.acme_id) as s:
        ch, _ = await set_channel(s, ctx.keyring, tenants.acme_id, key="bot", kind="telegram",
                                  mode="polling", fields={"token": "1:secret-token"})
        chat = await touch(s, tenants.acme_id, ch.id, "42", chat_type="private", title="x")
        await enqueue(s, tenants.acme_id, channel_id=ch.id, kind="telegram", chat_id="42",
                      text="hello", key="k1")
    async with ctx.db.session(tenants.acme_id) as s:
        member = (await s.execute(select(Membership).order_by(Membership.id.desc()))).scalar()
        token = (await s.execute(select(ApiToken).order_by(ApiToken.id))).scalar()
        message = (await s.execute(select(OutboundMessage))).scalar()
        assert member is not None and token is not None and message is not None
        ids = {"slug": "acme", "member_id": str(member.id), "token_id": str(token.id),
               "key": "bot", "chat_pk": str(chat.id), "message_id": str(message.id),
               "template_key": "help"}
    ids.update(await order_ids(ctx, tenants.acme_id))
    return ids


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


async def test_outsider_gets_404_everywhere(
    ctx: Context, client: httpx.AsyncClient, tenants: Tenants
) -> None:
    ids = await _ids(ctx, tenants, client)
    for method, path in workspace_routes(ctx):
        body = BODIES.get((method, path))
        response = await client.request(method, _fill(path, ids), json=body,
                                        headers=Tenants.auth(tenants.outsider))
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    # and nothing of acme changed
    ws = await client.get("/api/v1/workspaces/acme", headers=Tenants.auth(tenants.owner))
    assert ws.json()["name"] == "Acme SMM"


async def test_outsider_cannot_reach_acme_ids_through_its_own_workspace(
    ctx: Context, client: httpx.AsyncClient, tenants: Tenants
) -> None:
    ids = await _ids(ctx, tenants, client)
    ids["slug"] = "other"
    for method, path in workspace_routes(ctx):
        if not any(f"{{{name}}}" in path for name in ("member_id", "token_id", "chat_pk",
                                                       "message_id")):
            continue
        body = BODIES.get((method, path))
        response = await client.request(method, _fill(path, ids), json=body,
                                        headers=Tenants.auth(tenants.outsider))
        assert response.status_code == 404, (method, path, response.text)


async def test_agent_reads_but_cannot_write(
    ctx: Context, client: httpx.AsyncClient, tenants: Tenants
) -> None:
    ids = await _ids(ctx, tenants, client)
    for method, path in workspace_routes(ctx):
        response = await client.request(method, _fill(path, ids),
                                        json=BODIES.get((method, path)),
                                        headers=Tenants.auth(tenants.agent))
        if method in READS and "/tokens" not in path:
            assert response.status_code == 200, (method, path, response.text)
        elif path.endswith("/retry"):
            assert response.status_code == 403, (method, path, response.text)
        else:
            assert response.status_code == 403, (method, path, response.text)


async def test_owner_and_platform_can_read_everything(
    ctx: Context, client: httpx.AsyncClient, tenants: Tenants
) -> None:
    ids = await _ids(ctx, tenants, client)
    for token in (tenants.owner, tenants.platform):
        for method, path in workspace_routes(ctx):
            if method != "GET":
                continue
            response = await client.get(_fill(path, ids), headers=Tenants.auth(token))
            assert response.status_code == 200, (path, response.text)


async def test_workspace_list_shows_only_own(client: httpx.AsyncClient, tenants: Tenants) -> None:
    mine = await client.get("/api/v1/workspaces", headers=Tenants.auth(tenants.outsider))
    assert [w["slug"] for w in mine.json()] == ["other"]
    everything = await client.get("/api/v1/workspaces", headers=Tenants.auth(tenants.platform))
    assert [w["slug"] for w in everything.json()] == ["acme", "other"]


async def test_only_platform_creates_suspends_and_deletes(
    client: httpx.AsyncClient, tenants: Tenants
) -> None:
    owner = Tenants.auth(tenants.owner)
    r = await client.post("/api/v1/workspaces", json={"slug": "x", "name": "X"}, headers=owner)
    assert r.status_code == 403
    r = await client.patch("/api/v1/workspaces/acme", json={"status": "suspended"}, headers=owner)
    assert r.status_code == 403
    platform = Tenants.auth(tenants.platform)
    r = await client.patch("/api/v1/workspaces/acme", json={"status": "suspended"},
                           headers=platform)
    assert r.json()["status"] == "suspended"
    # a suspended workspace's owner can read but no longer change anything
    assert (await client.get("/api/v1/workspaces/acme", headers=owner)).status_code == 200
    r = await client.patch("/api/v1/workspaces/acme", json={"name": "Y"}, headers=owner)
    assert r.status_code == 403
    assert (await client.delete("/api/v1/workspaces/acme", headers=platform)).status_code == 204
    assert (await client.get("/api/v1/workspaces/acme", headers=platform)).status_code == 404


async def test_session_without_scope_refuses_scoped_queries(ctx: Context) -> None:
    from sqlalchemy import select

    async with ctx.db.bare_session() as s:
        with pytest.raises(UnscopedQueryError):
            await s.execute(select(Membership))


async def test_scoped_session_filters_and_refuses_foreign_writes(
    ctx: Context, tenants: Tenants
) -> None:
    from sqlalchemy import select

    async with ctx.db.session(tenants.other_id) as s:
        members = (await s.execute(select(Membership))).scalars().all()
        assert {m.workspace_id for m in members} == {tenants.other_id}
    with pytest.raises(UnscopedQueryError):
        async with ctx.db.session(tenants.other_id) as s:
            s.add(Membership(workspace_id=tenants.acme_id, user_id=1, role="owner"))
            await s.flush()
