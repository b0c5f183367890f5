"""Order rules and service rules in the console: the rules form with errors beside fields, the
service catalogue with search, filters and paging, rules per service, "Refresh from panel now"
against the panel simulator, the agent's read-only view, and parity with the JSON API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.orders import admin
from panelpilot.orders.models import ServiceCache
from panelpilot.panels import service as panels
from panelpilot.sim.perfectpanel import PerfectPanelSim
from panelpilot.sim.server import LoopbackServer
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, field_errors, flashes, form_error, post
from tests.support import Tenants

API = "/api/v1/workspaces/acme/orders"
RULES = {"max_ids": "5", "strict": "1", "refill_window_from": "creation",
         "partial_refill": "1", "default_start": "0-24 hours", "cooldown_speed": "30",
         "cooldown_cancel": "0", "cooldown_refill": "2880", "kw_refill": "garantili, гарантия",
         "kw_no_refill": "", "kw_lifetime": "", "kw_start": "", "kw_instant": "anında",
         "tickets_enabled": "1", "tickets_subjects": "Order, Sipariş",
         "tickets_refill": "Refill, Telafi", "tickets_speed": "Speed up",
         "tickets_cancel": "Cancel", "tickets_lookback_hours": "12"}


# --- order rules -----------------------------------------------------------------------------


async def test_rules_form_shows_defaults_and_saves_every_field(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/order-rules")
    assert r.status_code == 200
    assert 'name="max_ids" type="number" value="20"' in r.text
    assert 'name="cooldown_refill" type="number" value="1440"' in r.text and "1 day" in r.text
    r = await post(owner, "/w/acme/order-rules", RULES, follow=True)
    assert ("success", "Order rules saved: they apply to the next message.") in flashes(r.text)
    api = await clients()
    rules = (await api.get(f"{API}/settings", headers=Tenants.auth(tenants.agent))).json()
    assert rules["rules"] == {
        "max_ids": 5, "strict": True, "refill_window_from": "creation",
        "partial_refill": True, "default_start": "0-24 hours",
        "cooldown_minutes": {"speed": 30, "cancel": 0, "refill": 2880},
        "keywords": {"refill": ["garantili", "гарантия"], "no_refill": [], "lifetime": [],
                     "start": [], "instant": ["anında"]},
        "tickets": {"enabled": True, "subjects": ["Order", "Sipariş"],
                    "requests": {"refill": ["Refill", "Telafi"], "speed": ["Speed up"],
                                 "cancel": ["Cancel"]}, "lookback_hours": 12}}
    # the form shows what was saved; unticking a box turns it off
    assert 'value="garantili, гарантия"' in r.text and "no cooldown" in r.text
    r = await post(owner, "/w/acme/order-rules", {**RULES, "strict": ""}, follow=True)
    assert (await api.get(f"{API}/settings", headers=Tenants.auth(tenants.owner))
            ).json()["rules"]["strict"] is False
    r = await post(owner, "/w/acme/order-rules/reset", follow=True)
    assert ("success", "Order rules are back to the defaults.") in flashes(r.text)
    assert 'name="max_ids" type="number" value="20"' in r.text


async def test_rules_errors_beside_fields_and_nothing_saved(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    bad = {**RULES, "max_ids": "0", "cooldown_speed": "abc", "cooldown_cancel": "-5",
           "default_start": "soon", "tickets_lookback_hours": "9999"}
    r = await post(owner, "/w/acme/order-rules", bad)
    assert r.status_code == 422
    errors = field_errors(r.text)
    assert errors == {
        "max_ids": "Enter 1 or more.", "cooldown_speed": "Enter a whole number.",
        "cooldown_cancel": "Cooldown for cancel must be 0..525600 minutes.",
        "default_start": "Start window 'soon': write e.g. 'instant', '0-1 hour', '30 min'.",
        "tickets_lookback_hours": "Enter 720 or less."}
    assert form_error(r.text) == "Nothing was saved: correct the fields marked below."
    assert 'value="abc"' in r.text and 'value="soon"' in r.text  # as typed
    async with ctx.db.read_session(tenants.acme_id) as s:
        rules, _ = await admin.get_settings(s)
    assert rules.max_ids == 20 and rules.default_start is None


async def test_rules_agent_reads_only(ctx: Context, clients: ClientFactory,
                                      tenants: Tenants) -> None:
    owner = await clients(OWNER)
    await post(owner, "/w/acme/order-rules", RULES)
    agent = await clients(AGENT)
    r = await agent.get("/w/acme/order-rules")
    assert "30 minutes" in r.text and "Sipariş" in r.text
    assert '<form method="post" action="/w/acme/order-rules' not in r.text
    assert (await post(agent, "/w/acme/order-rules", {**RULES, "max_ids": "9"})
            ).status_code == 403
    assert (await post(agent, "/w/acme/order-rules/reset")).status_code == 403


# --- service rules ---------------------------------------------------------------------------


@pytest.fixture
async def panel(ctx: Context, tenants: Tenants) -> AsyncIterator[PerfectPanelSim]:
    sim = PerfectPanelSim(seed=True, rate_limit=None)
    server = LoopbackServer(sim.app)
    await server.start()
    async with ctx.db.session(tenants.acme_id) as s:
        await panels.set_connection(s, ctx.keyring, tenants.acme_id, panel_type="perfectpanel",
                                    url=server.url, api_key=sim.admin_key,
                                    user_api_key=sim.user_key)
    yield sim
    await server.stop()


def _ids(page: str) -> list[str]:
    return re.findall(r"<strong>#(\w+)</strong>", page)


async def test_empty_catalogue_without_panel(ctx: Context, clients: ClientFactory,
                                             tenants: Tenants) -> None:
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/services")
    assert "No services yet" in r.text and 'href="/w/acme/panel"' in r.text
    assert "Refresh from panel now" not in r.text
    r = await post(owner, "/w/acme/services/refresh", follow=True)
    assert ("error", "Connect your panel first: the catalogue comes from its API.") in \
        flashes(r.text)


async def test_refresh_search_filters_and_rules(ctx: Context, clients: ClientFactory,
                                                tenants: Tenants,
                                                panel: PerfectPanelSim) -> None:
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/services")
    assert "has not been read from your panel yet" in r.text
    r = await post(owner, "/w/acme/services/refresh", follow=True)
    assert ("success", "Catalogue read from the panel: 22 services (22 new, 0 changed, "
                       "0 gone).") in flashes(r.text)
    assert _ids(r.text)[:3] == ["101", "102", "103"] and "worked" in r.text
    assert "within 1 hour" in r.text and "30 days" in r.text
    r = await owner.get("/w/acme/services", params={"q": "Takipçi"})
    assert _ids(r.text) == ["105"]
    r = await owner.get("/w/acme/services", params={"q": "112"})
    assert _ids(r.text) == ["112"]
    unknown = _ids((await owner.get("/w/acme/services",
                                    params={"show": "unknown_refill"})).text)
    api = await clients()
    from_api = [s["service_id"] for s in (await api.get(
        f"{API}/services", params={"show": "unknown_refill"},
        headers=Tenants.auth(tenants.owner))).json()]
    assert unknown == from_api and unknown and "101" not in unknown
    # a rule for one of them: errors beside the field, then saved
    sid = unknown[0]
    r = await post(owner, f"/w/acme/services/{sid}/rule", {"start": "soon", "refill": "7"})
    assert r.status_code == 422
    assert field_errors(r.text) == {
        "start": "Start window 'soon': write e.g. 'instant', '0-1 hour', '30 min'."}
    assert 'value="7"' in r.text
    r = await post(owner, f"/w/acme/services/{sid}/rule", {"start": "", "refill": ""})
    assert "start" in field_errors(r.text)
    r = await post(owner, f"/w/acme/services/{sid}/rule",
                   {"start": "", "refill": "7", "note": "provider confirmed"}, follow=True)
    assert ("success", f"Rule saved: service {sid} now follows it.") in flashes(r.text)
    assert "7 days" in r.text and "your rule" in r.text and 'value="7"' in r.text
    row = (await api.get(f"{API}/services", params={"q": sid},
                         headers=Tenants.auth(tenants.owner))).json()[0]
    assert (row["refill"], row["refill_from"], row["override"]["note"]) == (
        "7 days", "override", "provider confirmed")
    r = await owner.get("/w/acme/services", params={"show": "overridden"})
    assert _ids(r.text) == [sid]
    r = await post(owner, f"/w/acme/services/{sid}/rule/delete", follow=True)
    assert ("success", f"Rule removed: service {sid} follows its name again.") in \
        flashes(r.text)
    assert (await owner.get("/w/acme/services/999999")).status_code == 404
    assert (await post(owner, "/w/acme/services/999999/rule", {"refill": "30"})
            ).status_code == 404
    status = (await api.get(f"{API}/services/status", headers=Tenants.auth(tenants.agent))
              ).json()
    assert status["services"] == 22 and status["error"] == "" and status["refreshed_at"]


async def test_refresh_failure_is_shown(ctx: Context, clients: ClientFactory,
                                        tenants: Tenants, panel: PerfectPanelSim) -> None:
    owner = await clients(OWNER)
    await post(owner, "/w/acme/services/refresh")
    async with ctx.db.session(tenants.acme_id) as s:
        conn = await panels.get_connection(s)
        assert conn is not None
        await panels.set_connection(s, ctx.keyring, tenants.acme_id, panel_type="perfectpanel",
                                    url=conn.base_url, api_key=None,
                                    user_api_key="wrong-user-key-000000")
    r = await post(owner, "/w/acme/services/refresh", follow=True)
    [(kind, message)] = flashes(r.text)
    assert kind == "error" and message.startswith("The panel did not give its catalogue:")
    assert "Last error" in r.text and "failed" in r.text
    assert _ids(r.text)[:1] == ["101"]  # the last good catalogue stays


async def test_catalogue_pages_by_id(ctx: Context, clients: ClientFactory,
                                     tenants: Tenants) -> None:
    async with ctx.db.session(tenants.acme_id) as s:
        for n in range(1, 61):
            s.add(ServiceCache(workspace_id=tenants.acme_id, service_id=str(n),
                               name=f"Service {n} [Refill: 30 Days]", refreshed_at=utcnow()))
    owner = await clients(OWNER)
    first = await owner.get("/w/acme/services")
    assert _ids(first.text)[0] == "1" and len(_ids(first.text)) == 50
    nxt = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert nxt
    second = await owner.get(nxt.group(1).replace("&amp;", "&"))
    assert _ids(second.text) == [str(n) for n in range(51, 61)]
    assert "First page" in second.text and 'rel="next"' not in second.text


async def test_services_agent_reads_only(ctx: Context, clients: ClientFactory,
                                         tenants: Tenants, panel: PerfectPanelSim) -> None:
    owner = await clients(OWNER)
    await post(owner, "/w/acme/services/refresh")
    await post(owner, "/w/acme/services/102/rule", {"refill": "lifetime", "note": "checked"})
    agent = await clients(AGENT)
    listing = await agent.get("/w/acme/services")
    detail = await agent.get("/w/acme/services/102")
    for page in (listing, detail):
        assert page.status_code == 200
        assert re.findall(r'<form method="post" action="([^"]+)"', page.text) == ["/logout"]
    assert "lifetime" in detail.text and "checked" in detail.text
    for path, body in (("/w/acme/services/refresh", {}),
                       ("/w/acme/services/102/rule", {"refill": "30"}),
                       ("/w/acme/services/102/rule/delete", {})):
        r: Any = await post(agent, path, body)
        assert r.status_code == 403, path
