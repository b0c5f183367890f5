"""Members and API tokens."""

from __future__ import annotations

import html
import re

import httpx
from sqlalchemy import select

from panelpilot.console.security import COOKIE_NAME
from panelpilot.context import Context
from panelpilot.tenancy.models import ApiToken, Membership
from tests.console.conftest import ClientFactory
from tests.console.helpers import (
    AGENT,
    OUTSIDER,
    OWNER,
    PASSWORD,
    field_errors,
    flashes,
    login,
    post,
)
from tests.support import Tenants


async def _members(ctx: Context, workspace_id: int) -> dict[str, str]:
    async with ctx.db.session(workspace_id) as s:
        return {m.user.email: m.role for m in (await s.execute(select(Membership))).scalars()}


async def _member_id(ctx: Context, workspace_id: int, email: str) -> int:
    async with ctx.db.session(workspace_id) as s:
        for m in (await s.execute(select(Membership))).scalars():
            if m.user.email == email:
                return m.id
    raise AssertionError(email)


async def test_members_list_and_add_a_new_person(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    page = await owner.get("/w/acme/members")
    assert OWNER in page.text and AGENT in page.text and "(you)" in page.text
    r = await post(owner, "/w/acme/members", {"email": "new@acme.test", "role": "agent"})
    assert r.status_code == 422 and field_errors(r.text) == {
        "password": "This person has no account yet: give a first password."}
    assert 'value="new@acme.test"' in r.text
    r = await post(owner, "/w/acme/members", {"email": "new@acme.test", "role": "agent",
                                              "name": "Nia New", "password": "short"})
    assert "at least 10 characters" in field_errors(r.text)["password"]
    r = await post(owner, "/w/acme/members", {"email": "new@acme.test", "role": "agent",
                                              "name": "Nia New", "password": PASSWORD},
                   follow=True)
    assert flashes(r.text)[0][0] == "success" and "Nia New" in r.text
    assert (await _members(ctx, tenants.acme_id))["new@acme.test"] == "agent"
    await login(await clients(), "new@acme.test")


async def test_add_someone_from_another_workspace_gives_them_a_switcher(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/members", {"email": OUTSIDER, "role": "agent"}, follow=True)
    assert flashes(r.text)[0][0] == "success"
    r = await post(owner, "/w/acme/members", {"email": OUTSIDER, "role": "agent"})
    assert field_errors(r.text) == {"email": "This person is a member already."}
    person = await clients(OUTSIDER)
    home = await person.get("/")
    assert home.status_code == 200  # two workspaces: a chooser, not a redirect
    assert 'href="/w/acme"' in home.text and 'href="/w/other"' in home.text
    page = await person.get("/w/other")
    assert "Switch workspace" in page.text and 'href="/w/acme"' in page.text
    assert (await person.get("/w/acme")).status_code == 200


async def test_change_role_and_the_last_owner_stays(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    agent_id = await _member_id(ctx, tenants.acme_id, AGENT)
    owner_id = await _member_id(ctx, tenants.acme_id, OWNER)
    r = await post(owner, f"/w/acme/members/{owner_id}/role", {"role": "agent"}, follow=True)
    assert flashes(r.text)[0] == (
        "error", "A workspace keeps at least one owner. Make someone else an owner first.")
    r = await post(owner, f"/w/acme/members/{owner_id}/remove", follow=True)
    assert flashes(r.text)[0][0] == "error"
    assert (await _members(ctx, tenants.acme_id))[OWNER] == "owner"
    r = await post(owner, f"/w/acme/members/{agent_id}/role", {"role": "owner"}, follow=True)
    assert ("success", f"{AGENT} is now owner.") in flashes(r.text)
    r = await post(owner, f"/w/acme/members/{agent_id}/role", {"role": "boss"}, follow=True)
    assert ("error", "Choose owner or agent.") in flashes(r.text)
    # The former agent, now an owner, can change settings.
    promoted = await clients(AGENT)
    r = await post(promoted, "/w/acme/tokens", {"name": "x", "role": "agent", "expires": ""})
    assert r.status_code == 303


async def test_remove_member_and_leave(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    agent = await clients(AGENT)
    agent_id = await _member_id(ctx, tenants.acme_id, AGENT)
    r = await post(owner, f"/w/acme/members/{agent_id}/remove", follow=True)
    assert ("success", f"{AGENT} was removed from this workspace.") in flashes(r.text)
    assert AGENT not in await _members(ctx, tenants.acme_id)
    assert (await agent.get("/w/acme")).status_code == 404  # gone at once
    # An owner may leave while another owner stays.
    await post(owner, "/w/acme/members", {"email": "second@acme.test", "role": "owner",
                                          "password": PASSWORD})
    me = await _member_id(ctx, tenants.acme_id, OWNER)
    r = await post(owner, f"/w/acme/members/{me}/remove")
    assert r.headers["location"] == "/"
    assert (await owner.get("/w/acme")).status_code == 404


def plaintext_not_in_cookie(client: httpx.AsyncClient) -> bool:
    """The token rides to the next page encrypted: the cookie never holds it readable."""
    import base64
    import json

    value = client.cookies[COOKIE_NAME].split(".")[0]
    data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    return bool(data.get("o")) and "pp_" not in json.dumps(data)


async def test_token_is_shown_once_and_works(
    ctx: Context, client: httpx.AsyncClient, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/tokens", {"name": "", "role": "agent", "expires": ""})
    assert r.status_code == 422 and "name" in field_errors(r.text)
    r = await post(owner, "/w/acme/tokens", {"name": "CRM sync", "role": "agent",
                                             "expires": "30"})
    assert r.status_code == 303
    assert plaintext_not_in_cookie(owner)
    r = await owner.get(r.headers["location"])
    assert "Copy your new token now" in r.text
    assert r.headers["cache-control"] == "no-store"
    plaintext = re.search(r'<code id="new-token">(pp_[^<]+)</code>', r.text)
    assert plaintext is not None
    api = await client.get("/api/v1/me", headers=Tenants.auth(plaintext.group(1)))
    assert api.status_code == 200 and api.json()["role"] == "agent"
    listing = await owner.get("/w/acme/tokens")  # a reload shows it no more
    assert plaintext.group(1) not in listing.text and "CRM sync" in listing.text
    assert "Copy your new token now" not in listing.text
    assert ">in 30 days</time>" in listing.text
    async with ctx.db.session(tenants.acme_id) as s:
        row = (await s.execute(select(ApiToken).where(ApiToken.name == "CRM sync"))).scalar_one()
        assert row.created_by is not None and row.expires_at is not None
    r = await post(owner, f"/w/acme/tokens/{row.id}/revoke", follow=True)
    assert ("success", "The token “CRM sync” was revoked: it stops working at once.") \
        in flashes(r.text)
    api = await client.get("/api/v1/me", headers=Tenants.auth(plaintext.group(1)))
    assert api.status_code == 401


async def test_tokens_are_for_owners_only(clients: ClientFactory, tenants: Tenants) -> None:
    agent = await clients(AGENT)
    r = await agent.get("/w/acme/tokens")
    assert r.status_code == 403 and "Only the workspace's owners" in html.unescape(r.text)
    r = await agent.get("/w/acme/members")
    assert r.status_code == 200 and "Add a member" not in r.text
