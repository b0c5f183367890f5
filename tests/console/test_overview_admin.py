"""The overview's setup checklist, its extension hook, and the master admin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from panelpilot.channels import service as channels
from panelpilot.console import checklist
from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.panels import service as panels
from panelpilot.panels.connection import PanelConnection
from panelpilot.tenancy.models import Membership, Workspace
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, PASSWORD, field_errors, flashes, login, post
from tests.support import Tenants


async def test_checklist_follows_the_workspace(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    page = await owner.get("/w/acme")
    steps = len(checklist.provided())  # the order features add their own steps
    assert f"0 of {steps} done" in page.text
    assert "Connect your panel" in page.text and "Connect a channel" in page.text
    assert 'href="/w/acme/panel"' in page.text and 'href="/w/acme/channels"' in page.text
    async with ctx.db.session(tenants.acme_id) as s:
        await panels.set_connection(s, ctx.keyring, tenants.acme_id, panel_type="perfectpanel",
                                    url="https://p.test", api_key="k" * 20)
        ch, _ = await channels.set_channel(s, ctx.keyring, tenants.acme_id, key="tg",
                                           kind="telegram", mode="webhook",
                                           fields={"token": "1:x"})
    page = await owner.get("/w/acme")
    assert f"1 of {steps} done" in page.text
    assert "A channel is added but not connected yet" in page.text
    async with ctx.db.session(tenants.acme_id) as s:
        conn = (await s.execute(select(PanelConnection))).scalar_one()
        conn.last_test_ok = True
        row = await s.get(type(ch), ch.id)
        assert row is not None
        row.webhook_set_at = utcnow()
    page = await owner.get("/w/acme")
    assert f"3 of {steps} done" in page.text


@pytest.fixture
def extra_step() -> Iterator[None]:
    async def example(c: checklist.StepContext) -> checklist.ChecklistItem:
        return checklist.ChecklistItem("example", "Try the example step", False,
                                       f"{c.base}/example", "Not done yet.")

    checklist.provide("example", example)
    yield
    # Only this step goes: the real features' steps stay for the tests after this one.
    checklist._steps.pop("example")
    checklist.ORDER.remove("example")


async def test_a_feature_fills_its_checklist_slot(
    clients: ClientFactory, tenants: Tenants, extra_step: None
) -> None:
    steps = checklist.provided()
    assert steps[:3] == ["panel", "panel_test", "channel"] and steps[-1] == "example"
    page = await (await clients(OWNER)).get("/w/acme")
    assert f"0 of {len(steps)} done" in page.text and "Try the example step" in page.text
    assert page.text.index("Connect a channel") < page.text.index("Try the example step")


async def test_admin_creates_a_workspace_with_its_first_owner(
    ctx: Context, clients: ClientFactory, tenants: Tenants, root: str
) -> None:
    admin = await clients(root)
    assert (await admin.get("/")).headers["location"] == "/admin"
    page = await admin.get("/admin")
    assert "Acme SMM" in page.text and "Other Panel" in page.text
    r = await post(admin, "/admin/workspaces", {"slug": "Bad Slug", "name": "Beta"})
    assert r.status_code == 422 and "slug" in field_errors(r.text)
    r = await post(admin, "/admin/workspaces", {"slug": "acme", "name": "Again"})
    assert field_errors(r.text) == {"slug": "A workspace with slug 'acme' exists already."}
    r = await post(admin, "/admin/workspaces", {"slug": "beta", "name": "Beta",
                                                "owner_email": "boss@beta.test",
                                                "owner_password": "short"})
    assert "at least 10 characters" in field_errors(r.text)["owner_password"]
    async with ctx.db.platform_session() as s:
        assert (await s.execute(select(Workspace).where(Workspace.slug == "beta"))
                ).scalar() is None  # nothing half-made
    r = await post(admin, "/admin/workspaces", {"slug": "beta", "name": "Beta", "plan": "pro",
                                                "owner_email": "boss@beta.test",
                                                "owner_password": PASSWORD}, follow=True)
    assert ("success", "Workspace beta was created with boss@beta.test as its owner.") \
        in flashes(r.text)
    assert "boss@beta.test" in r.text
    boss = await clients("boss@beta.test")
    assert (await boss.get("/")).headers["location"] == "/w/beta"
    # An existing person needs no password.
    r = await post(admin, "/admin/workspaces", {"slug": "gamma", "name": "Gamma",
                                                "owner_email": OWNER}, follow=True)
    assert flashes(r.text)[0][0] == "success"
    async with ctx.db.platform_session() as s:
        roles = (await s.execute(select(Membership.role).join(
            Workspace, Workspace.id == Membership.workspace_id).where(Workspace.slug == "gamma")
        )).scalars().all()
        assert roles == ["owner"]


async def test_suspend_makes_the_workspace_read_only_and_resume_undoes_it(
    ctx: Context, clients: ClientFactory, tenants: Tenants, root: str
) -> None:
    admin = await clients(root)
    owner = await clients(OWNER)
    r = await post(admin, "/admin/workspaces/acme/suspend", {"back": "/admin"})
    assert r.headers["location"] == "/admin"
    page = await owner.get("/w/acme/panel")
    assert "This workspace is suspended" in page.text and "Save connection" not in page.text
    r = await post(owner, "/w/acme/panel", {"type": "perfectpanel", "url": "https://p.test",
                                            "api_key": "k" * 20})
    assert r.status_code == 403
    # The platform owner can still fix it.
    r = await post(admin, "/w/acme/panel", {"type": "perfectpanel", "url": "https://p.test",
                                            "api_key": "k" * 20})
    assert r.status_code == 303
    r = await post(admin, "/admin/workspaces/acme/resume", follow=True)
    assert ("success", "Acme SMM is active again.") in flashes(r.text)
    r = await post(owner, "/w/acme/panel", {"type": "perfectpanel", "url": "https://q.test"})
    assert r.status_code == 303


async def test_admin_renames_and_replans(
    ctx: Context, clients: ClientFactory, tenants: Tenants, root: str
) -> None:
    admin = await clients(root)
    r = await post(admin, "/admin/workspaces/acme", {"name": "", "plan": "pro"})
    assert r.status_code == 422 and field_errors(r.text) == {"name": "The name is empty."}
    r = await post(admin, "/admin/workspaces/acme", {"name": "Acme Global", "plan": "pro"},
                   follow=True)
    assert ("success", "Saved.") in flashes(r.text) and "Acme Global" in r.text
    await post(admin, "/admin/workspaces/acme", {"name": "Acme Global", "plan": ""})
    async with ctx.db.platform_session() as s:
        ws = (await s.execute(select(Workspace).where(Workspace.slug == "acme"))).scalar_one()
        assert (ws.name, ws.plan) == ("Acme Global", None)
    assert (await admin.get("/admin/workspaces/nope")).status_code == 404


async def test_admin_users_list(clients: ClientFactory, tenants: Tenants, root: str) -> None:
    admin = await clients(root)
    await login(await clients(), AGENT)
    page = await admin.get("/admin/users")
    for email in (root, OWNER, AGENT, "owner@other.test"):
        assert email in page.text
    assert "platform owner" in page.text and 'href="/admin/workspaces/acme"' in page.text


async def test_runners_page_shows_last_errors_and_backlogs(
    ctx: Context, clients: ClientFactory, tenants: Tenants, root: str
) -> None:
    from datetime import timedelta

    from panelpilot.runners.models import RunnerState

    admin = await clients(root)
    empty = await admin.get("/admin/runners")
    assert empty.status_code == 200 and "No runner has run yet" in empty.text
    now = utcnow()
    async with ctx.db.platform_session() as s:
        s.add(RunnerState(name="telegram-poll", holder="node-a:123", lease_until=now,
                          last_run_at=now, last_ok_at=now - timedelta(minutes=5),
                          last_error="getUpdates: 409 Conflict", last_error_at=now, runs=42,
                          info={}))
        s.add(RunnerState(name="service-cache", holder=None, last_run_at=now, last_ok_at=now,
                          runs=3, info={}))
    page = await admin.get("/admin/runners")
    assert "telegram-poll" in page.text and "getUpdates: 409 Conflict" in page.text
    assert 'badge-problem">failing' in page.text and 'badge-ok">working' in page.text
    assert "Messages waiting to be sent" in page.text
    assert 'href="/admin/runners"' in (await admin.get("/admin")).text
    assert (await (await clients(OWNER)).get("/admin/runners")).status_code == 404
