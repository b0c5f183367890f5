"""Provider routes in the console: list, add, edit, preview, remove, the group picker, errors
beside fields, the agent's read-only view, the checklist step, and parity with the JSON API."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from panelpilot.chats.models import Chat
from panelpilot.context import Context
from panelpilot.orders import linking
from panelpilot.orders.models import ProviderRoute
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, field_errors, flashes, post
from tests.console.logdata import add_channel, add_chat
from tests.support import Tenants


async def _setup(ctx: Context, tenants: Tenants) -> dict[str, int]:
    tg = await add_channel(ctx, tenants.acme_id, key="tg")
    group = await add_chat(ctx, tenants.acme_id, tg, "-1001987654321", title="SMM Provider A",
                           chat_type="supergroup", role="provider_group")
    other = await add_chat(ctx, tenants.acme_id, tg, "-100555", title="Fresh group",
                           chat_type="group")
    customer = await add_chat(ctx, tenants.acme_id, tg, "5512345", title="Jane Buyer")
    async with ctx.db.session(tenants.acme_id) as s:
        chat = (await s.execute(select(Chat).where(Chat.id == customer))).scalar_one()
        await linking.link(s, tenants.acme_id, chat, "jane", source="api")
    return {"tg": tg, "group": group, "other": other, "customer": customer}


async def _routes(ctx: Context, workspace_id: int) -> list[ProviderRoute]:
    async with ctx.db.read_session(workspace_id) as s:
        return list((await s.execute(select(ProviderRoute).order_by(ProviderRoute.id)))
                    .scalars())


async def _role(ctx: Context, workspace_id: int, pk: int) -> str:
    async with ctx.db.read_session(workspace_id) as s:
        return str((await s.execute(select(Chat.role).where(Chat.id == pk))).scalar_one())


FORM = {"name": "smmprovider", "match": "smmprovider.com\nSMM Provider", "group": "",
        "channel": "", "chat": "", "command_speed": "", "command_cancel": "",
        "command_refill": "", "bulk": "1"}


async def test_empty_list_says_what_to_do(ctx: Context, clients: ClientFactory,
                                          tenants: Tenants) -> None:
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/routes")
    assert r.status_code == 200
    assert "No provider routes yet" in r.text and 'href="/w/acme/routes/new"' in r.text


async def test_add_route_with_a_group_from_the_list(ctx: Context, clients: ClientFactory,
                                                    tenants: Tenants) -> None:
    ids = await _setup(ctx, tenants)
    owner = await clients(OWNER)
    form = await owner.get("/w/acme/routes/new")
    # provider groups come first; customers are not offered
    assert form.text.index("SMM Provider A") < form.text.index("Fresh group")
    assert "Jane Buyer" not in form.text
    r = await post(owner, "/w/acme/routes", {**FORM, "group": f"chat:{ids['other']}",
                                             "command_refill": "{external_id} refill please"},
                   follow=True)
    assert ("success", "Route smmprovider saved: its orders go to -100555.") in flashes(r.text)
    assert "Fresh group" in r.text and "{external_id} refill please" in r.text
    [route] = await _routes(ctx, tenants.acme_id)
    assert (route.match, route.chat_id, route.commands, route.bulk, route.source) == (
        ["smmprovider.com", "SMM Provider"], "-100555", {"refill": "{external_id} refill please"},
        True, "api")
    assert await _role(ctx, tenants.acme_id, ids["other"]) == "provider_group"


async def test_typed_chat_id_and_errors_beside_fields(ctx: Context, clients: ClientFactory,
                                                      tenants: Tenants) -> None:
    ids = await _setup(ctx, tenants)
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/routes", {**FORM, "name": "", "command_speed": "{externl_id}"})
    assert r.status_code == 422
    assert field_errors(r.text) == {"name": "Give the provider a name, e.g. smmprovider."}
    r = await post(owner, "/w/acme/routes", {**FORM, "command_speed": "{externl_id} speed"})
    assert r.status_code == 422
    errors = field_errors(r.text)
    assert list(errors) == ["command_speed"] and "{externl_id} is not a value" in \
        errors["command_speed"]
    assert 'value="{externl_id} speed"' in r.text  # what was typed stays
    r = await post(owner, "/w/acme/routes", {**FORM, "chat": "5512345", "channel": "tg"})
    assert r.status_code == 422
    assert field_errors(r.text) == {"chat": "That chat is linked to a customer: unlink it "
                                            "first."}
    r = await post(owner, "/w/acme/routes", {**FORM, "group": f"chat:{ids['customer']}"})
    assert r.status_code == 422 and "group" in field_errors(r.text)
    r = await post(owner, "/w/acme/routes", {**FORM, "chat": "-100777", "channel": "tg"},
                   follow=True)
    assert ("success", "Route smmprovider saved: its orders go to -100777.") in flashes(r.text)
    r = await post(owner, "/w/acme/routes", {**FORM, "name": "dupe", "match": "smmprovider.com"})
    assert r.status_code == 422 and "listed by both" in field_errors(r.text)["match"]
    r = await post(owner, "/w/acme/routes", {**FORM, "name": "smmprovider", "match": ""})
    assert r.status_code == 422 and "already a provider named" in field_errors(r.text)["name"]
    assert len(await _routes(ctx, tenants.acme_id)) == 1


async def test_edit_preview_and_remove_frees_the_group(ctx: Context, clients: ClientFactory,
                                                       tenants: Tenants) -> None:
    ids = await _setup(ctx, tenants)
    owner = await clients(OWNER)
    await post(owner, "/w/acme/routes", {**FORM, "group": f"chat:{ids['other']}"})
    [route] = await _routes(ctx, tenants.acme_id)
    page = await owner.get(f"/w/acme/routes/{route.id}")
    assert page.status_code == 200
    assert "EXT-99812 refill" in page.text and "EXT-99812, EXT-99813 refill" in page.text
    # the live preview (a fragment) and the full-page preview without JavaScript
    live = await owner.post("/w/acme/routes/preview", headers={"x-console-partial": "1"},
                            data={**FORM, "command_refill": "{external_id} rf {count}",
                                  "bulk": "", "csrf_token": _csrf(page)})
    assert live.status_code == 200 and "<html" not in live.text
    assert "EXT-99812 rf 1" in live.text and "two messages" in live.text
    full = await post(owner, "/w/acme/routes/preview",
                      {**FORM, "route_id": str(route.id), "command_cancel": "{oops}"})
    assert full.status_code == 200 and "Not saved yet" in full.text
    assert "{oops} is not a value" in full.text
    assert (await _routes(ctx, tenants.acme_id))[0].commands == {}
    # edit: another group; the old one is free again
    r = await post(owner, f"/w/acme/routes/{route.id}",
                   {**FORM, "group": f"chat:{ids['group']}", "bulk": ""}, follow=True)
    assert ("success", "Route smmprovider saved: its orders go to -1001987654321.") in \
        flashes(r.text)
    assert "One message per order" in r.text
    assert await _role(ctx, tenants.acme_id, ids["other"]) == "unknown"
    # remove
    r = await post(owner, f"/w/acme/routes/{route.id}/delete", follow=True)
    assert flashes(r.text)[0][1].startswith("Route smmprovider removed.")
    assert await _routes(ctx, tenants.acme_id) == []
    assert await _role(ctx, tenants.acme_id, ids["group"]) == "unknown"
    assert (await owner.get(f"/w/acme/routes/{route.id}")).status_code == 404


def _csrf(page: httpx.Response) -> str:
    from tests.console.helpers import csrf_of

    return csrf_of(page.text)


async def test_agent_reads_routes_without_forms(ctx: Context, clients: ClientFactory,
                                                tenants: Tenants) -> None:
    ids = await _setup(ctx, tenants)
    owner = await clients(OWNER)
    await post(owner, "/w/acme/routes", {**FORM, "group": f"chat:{ids['group']}"})
    [route] = await _routes(ctx, tenants.acme_id)
    agent = await clients(AGENT)
    for path in ("/w/acme/routes", f"/w/acme/routes/{route.id}", "/w/acme/routes/new"):
        r = await agent.get(path)
        assert r.status_code == 200 and 'method="post" action="/w/acme/routes' not in r.text
    assert "SMM Provider A" in (await agent.get(f"/w/acme/routes/{route.id}")).text
    r = await post(agent, f"/w/acme/routes/{route.id}/delete")
    assert r.status_code == 403
    assert len(await _routes(ctx, tenants.acme_id)) == 1


async def test_checklist_step(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    ids = await _setup(ctx, tenants)
    owner = await clients(OWNER)
    r = await owner.get("/w/acme")
    assert "Map your providers" in r.text and "Add a route for each provider" in r.text
    await post(owner, "/w/acme/routes", {**FORM, "group": f"chat:{ids['group']}"})
    r = await owner.get("/w/acme")
    assert "1 provider mapped." in r.text


async def test_api_and_console_share_the_rules(ctx: Context, clients: ClientFactory,
                                               tenants: Tenants) -> None:
    """The same checks answer through the API; deleting there frees the group too."""
    ids = await _setup(ctx, tenants)
    api = await clients()
    auth = Tenants.auth(tenants.owner)
    base = "/api/v1/workspaces/acme/orders/providers"
    r = await api.post(base, headers=auth, json={"name": "x", "commands": {"refill": "{nope}"}})
    assert r.status_code == 422 and "{nope} is not a value" in r.json()["error"]["message"]
    r = await api.post(f"{base}/preview", headers=auth,
                       json={"commands": {"speed": "/speed {external_id}"}, "bulk": True})
    assert r.status_code == 200
    assert {p["action"]: (p["one"], p["two"]) for p in r.json()} == {
        "speed": ("/speed EXT-99812", "/speed EXT-99812, EXT-99813"),
        "cancel": ("EXT-99812 cancel", "EXT-99812, EXT-99813 cancel"),
        "refill": ("EXT-99812 refill", "EXT-99812, EXT-99813 refill")}
    r = await api.post(f"{base}/preview", headers=Tenants.auth(tenants.agent), json={})
    assert r.status_code == 403
    r = await api.post(base, headers=auth, json={
        "name": "fast", "group": {"channel": "tg", "chat": "-100555"}})
    assert r.status_code == 201
    assert await _role(ctx, tenants.acme_id, ids["other"]) == "provider_group"
    owner = await clients(OWNER)
    assert "Fresh group" in (await owner.get("/w/acme/routes")).text
    r = await api.delete(f"{base}/{r.json()['id']}", headers=auth)
    assert r.status_code == 204
    assert await _role(ctx, tenants.acme_id, ids["other"]) == "unknown"
