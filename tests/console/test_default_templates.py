"""Default templates for new workspaces: the master admin's page (list, edit with preview,
validation, reset), the platform API, and the copy into workspaces created afterwards by the
console, the API and ``workspace apply`` (never into workspaces that existed before)."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from panelpilot.context import Context
from panelpilot.templates import defaults, service
from panelpilot.templates.models import DefaultTemplate, Template
from panelpilot.tenancy.models import Workspace
from panelpilot.workspaces.apply import apply_file, export_workspace
from tests.console.conftest import ClientFactory
from tests.console.helpers import OWNER, field_errors, flashes, post
from tests.support import Tenants

HELP = "Hi! Send your order ID and what you need, e.g. 2274209 refill."
COOLDOWN = "Please wait {time_left} before asking about {ids} again."


async def platform_rows(ctx: Context) -> dict[str, str]:
    async with ctx.db.platform_session() as s:
        return {r.key: r.text for r in (await s.execute(select(DefaultTemplate))).scalars()}


async def own_templates(ctx: Context, slug: str) -> dict[str, str]:
    async with ctx.db.platform_session() as s:
        ws = (await s.execute(select(Workspace).where(Workspace.slug == slug))).scalar_one()
    async with ctx.db.session(ws.id) as s:
        return dict((await s.execute(select(Template.key, Template.text))).all())


async def set_defaults(ctx: Context, texts: dict[str, str]) -> None:
    async with ctx.db.platform_session() as s:
        for key, text in texts.items():
            await defaults.set_default(s, key, text)


# --- the page ------------------------------------------------------------------------------


async def test_list_shows_every_key_and_says_old_workspaces_keep_theirs(
    ctx: Context, clients: ClientFactory, root: str
) -> None:
    await set_defaults(ctx, {"help": HELP})
    admin = await clients(root)
    r = await admin.get("/admin/templates")
    assert r.status_code == 200
    for key in service.DEFAULTS:
        assert f"<strong>{key}</strong>" in r.text
    assert "Existing workspaces are not changed" in r.text
    assert "1 of" in r.text and "platform wording" in r.text
    assert 'href="/admin/templates"' in r.text and "Default templates" in r.text  # nav
    custom = await admin.get("/admin/templates?show=custom")
    assert re.findall(r'edit\?key=(\w+)"', custom.text) == ["help"]
    found = await admin.get("/admin/templates?q=nothing-like-this")
    assert "No template matches" in found.text


async def test_edit_preview_save_and_reset(ctx: Context, clients: ClientFactory,
                                           root: str) -> None:
    admin = await clients(root)
    page = await admin.get("/admin/templates/edit?key=help")
    assert page.status_code == 200
    assert "built-in wording" in page.text and service.DEFAULTS["help"].split("\n")[0] in page.text
    assert 'data-preview="/admin/templates/preview"' in page.text
    # The live preview answers a fragment; without JavaScript, the whole page with the draft.
    key = "order_cooldown" if "order_cooldown" in service.DEFAULTS else "help"
    partial = await admin.post("/admin/templates/preview",
                               data={"key": key, "text": COOLDOWN,
                                     "csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"',
                                                              page.text)[0]},
                               headers={"x-console-partial": "1"})
    assert partial.status_code == 200 and 'id="template-preview"' in partial.text
    assert "<html" not in partial.text
    if key == "order_cooldown":
        assert '<mark class="value">3 hours</mark>' in partial.text
    full = await post(admin, "/admin/templates/preview", {"key": "help", "text": HELP})
    assert full.status_code == 200 and "Not saved yet." in full.text and HELP in full.text
    assert await platform_rows(ctx) == {}

    saved = await post(admin, "/admin/templates/save", {"key": "help", "text": HELP + "\r\n"},
                       follow=True)
    assert ("success", "Saved: workspaces created from now on start with this wording. "
                       "Existing workspaces keep theirs.") in flashes(saved.text)
    assert await platform_rows(ctx) == {"help": HELP}
    assert "platform wording" in saved.text and "Reset to built-in" in saved.text
    again = await post(admin, "/admin/templates/save", {"key": "help", "text": HELP},
                       follow=True)
    assert ("info", "Nothing changed.") in flashes(again.text)

    reset = await post(admin, "/admin/templates/reset", {"key": "help"}, follow=True)
    assert ("success", "New workspaces get the built-in wording again.") in flashes(reset.text)
    assert await platform_rows(ctx) == {}
    twice = await post(admin, "/admin/templates/reset", {"key": "help"}, follow=True)
    assert ("info", "New workspaces already get the built-in wording.") in flashes(twice.text)


async def test_saving_the_builtin_text_resets(ctx: Context, clients: ClientFactory,
                                              root: str) -> None:
    await set_defaults(ctx, {"help": HELP})
    admin = await clients(root)
    r = await post(admin, "/admin/templates/save",
                   {"key": "help", "text": service.DEFAULTS["help"]}, follow=True)
    assert any("built-in wording" in text for _, text in flashes(r.text))
    assert await platform_rows(ctx) == {}


async def test_bad_text_is_refused_beside_the_field_and_kept(
    ctx: Context, clients: ClientFactory, root: str
) -> None:
    admin = await clients(root)
    empty = await post(admin, "/admin/templates/save", {"key": "help", "text": "   "})
    assert empty.status_code == 422
    assert field_errors(empty.text) == {"text": "A template can not be empty."}
    long_text = "x" * (service.MAX_LENGTH + 1)
    too_long = await post(admin, "/admin/templates/save", {"key": "help", "text": long_text})
    assert too_long.status_code == 422 and "at most 4000 characters" in too_long.text
    assert long_text in too_long.text  # what was typed stays in the form
    assert await platform_rows(ctx) == {}


async def test_unknown_keys_and_other_people(clients: ClientFactory, tenants: Tenants,
                                             root: str) -> None:
    admin = await clients(root)
    assert (await admin.get("/admin/templates/edit?key=nope")).status_code == 404
    assert (await admin.get("/admin/templates/edit")).status_code == 303
    assert (await post(admin, "/admin/templates/save",
                       {"key": "nope", "text": "x"})).status_code == 404
    owner = await clients(OWNER)
    for url in ("/admin/templates", "/admin/templates/edit?key=help"):
        assert (await owner.get(url)).status_code == 404
    assert (await post(owner, "/admin/templates/save",
                       {"key": "help", "text": "x"})).status_code == 404


# --- copied into new workspaces, not into old ones -----------------------------------------


async def test_console_and_api_workspaces_start_with_the_platform_wording(
    ctx: Context, clients: ClientFactory, tenants: Tenants, root: str
) -> None:
    before = await own_templates(ctx, "acme")
    await set_defaults(ctx, {"help": HELP, "api_problem": "The panel is slow, try later."})
    admin = await clients(root)
    made = await post(admin, "/admin/workspaces", {"slug": "fresh", "name": "Fresh Panel"})
    assert made.status_code == 303
    assert await own_templates(ctx, "fresh") == {"help": HELP,
                                                 "api_problem": "The panel is slow, try later."}
    api = await clients()
    r = await api.post("/api/v1/workspaces", json={"slug": "viaapi", "name": "Via API"},
                       headers=tenants.auth(tenants.platform))
    assert r.status_code == 201
    assert (await own_templates(ctx, "viaapi"))["help"] == HELP
    # The workspace's own template page shows the copied wording as its own.
    page = await admin.get("/w/viaapi/templates/help")
    assert "your wording" in page.text and HELP in page.text
    # Workspaces that existed before are not touched.
    assert await own_templates(ctx, "acme") == before
    assert await own_templates(ctx, "other") == {}
    # A later change reaches neither.
    await set_defaults(ctx, {"help": "Changed again"})
    assert (await own_templates(ctx, "fresh"))["help"] == HELP


async def test_workspace_apply_starts_with_the_platform_wording(ctx: Context) -> None:
    older = "workspace:\n  slug: older\n  name: Older Panel\n"
    await apply_file(ctx, older)  # before the platform had any wording of its own
    await set_defaults(ctx, {"help": HELP, "api_problem": "The panel is slow, try later."})
    assert await own_templates(ctx, "older") == {}  # setting defaults changes no workspace
    text = ("workspace:\n  slug: filed\n  name: Filed Panel\n"
            "templates:\n  api_problem: \"Our own words.\"\n")
    first = await apply_file(ctx, text)
    assert first.created
    # The file's own wording wins; what it leaves out keeps the platform's.
    assert await own_templates(ctx, "filed") == {"help": HELP, "api_problem": "Our own words."}
    again = await apply_file(ctx, text)
    assert again.changes == []
    exported, _ = await export_workspace(ctx, "filed")
    assert "Our own words." in exported and "Hi! Send your order ID" in exported
    assert (await apply_file(ctx, exported)).changes == []
    # Applying a file is explicit: a template it leaves out gets the platform's wording.
    applied = await apply_file(ctx, older)
    assert "template help set" in applied.changes
    assert await own_templates(ctx, "older") == {"help": HELP,
                                                 "api_problem": "The panel is slow, try later."}


async def test_no_platform_wording_means_no_copies(ctx: Context, clients: ClientFactory,
                                                   root: str) -> None:
    admin = await clients(root)
    await post(admin, "/admin/workspaces", {"slug": "plain", "name": "Plain"})
    assert await own_templates(ctx, "plain") == {}


# --- the platform API ----------------------------------------------------------------------


async def test_platform_api(ctx: Context, client: httpx.AsyncClient, tenants: Tenants) -> None:
    root = tenants.auth(tenants.platform)
    listing = await client.get("/api/v1/platform/default-templates", headers=root)
    assert listing.status_code == 200
    keys = [r["key"] for r in listing.json()]
    assert keys == sorted(service.DEFAULTS)
    first = next(r for r in listing.json() if r["key"] == "help")
    assert first["customized"] is False and first["text"] == first["builtin"]

    put = await client.put("/api/v1/platform/default-templates/help", headers=root,
                           json={"text": HELP})
    assert put.status_code == 200, put.text
    assert put.json()["text"] == HELP and put.json()["customized"] is True
    assert put.json()["updated_at"] is not None
    one = await client.get("/api/v1/platform/default-templates/help", headers=root)
    assert one.json()["text"] == HELP
    made = await client.post("/api/v1/workspaces", headers=root,
                             json={"slug": "newer", "name": "Newer"})
    assert made.status_code == 201
    assert (await own_templates(ctx, "newer"))["help"] == HELP

    for bad, status in (({"text": ""}, 422), ({"text": "x" * 4001}, 422),
                        ({"text": "x", "extra": 1}, 422)):
        r = await client.put("/api/v1/platform/default-templates/help", headers=root, json=bad)
        assert r.status_code == status, (bad, r.status_code)
    assert (await client.put("/api/v1/platform/default-templates/nope", headers=root,
                             json={"text": "x"})).status_code == 404
    assert (await client.get("/api/v1/platform/default-templates/nope",
                             headers=root)).status_code == 404

    deleted = await client.delete("/api/v1/platform/default-templates/help", headers=root)
    assert deleted.status_code == 204
    assert await platform_rows(ctx) == {}
    assert (await client.delete("/api/v1/platform/default-templates/help",
                                headers=root)).status_code == 204
    assert (await client.delete("/api/v1/platform/default-templates/nope",
                                headers=root)).status_code == 404


async def test_platform_api_is_for_the_platform_owner_only(
    ctx: Context, client: httpx.AsyncClient, tenants: Tenants
) -> None:
    await set_defaults(ctx, {"help": HELP})
    for token in (tenants.owner, tenants.agent, tenants.outsider):
        auth = tenants.auth(token)
        assert (await client.get("/api/v1/platform/default-templates",
                                 headers=auth)).status_code == 403
        assert (await client.put("/api/v1/platform/default-templates/help", headers=auth,
                                 json={"text": "mine"})).status_code == 403
        assert (await client.delete("/api/v1/platform/default-templates/help",
                                    headers=auth)).status_code == 403
    assert (await client.get("/api/v1/platform/default-templates")).status_code == 401
    assert await platform_rows(ctx) == {"help": HELP}
