"""The panel connection page: saving with write-only keys, validation, and the real test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from panelpilot.console import checklist
from panelpilot.context import Context
from panelpilot.panels.connection import PanelConnection
from panelpilot.sim.perfectpanel import PerfectPanelSim
from panelpilot.sim.server import LoopbackServer
from panelpilot.vault.store import reveal
from tests.console.conftest import ClientFactory
from tests.console.helpers import OWNER, field_errors, flashes, post
from tests.support import Tenants


@pytest.fixture
async def sim() -> AsyncIterator[tuple[PerfectPanelSim, str]]:
    panel = PerfectPanelSim(rate_limit=None, seed=True)
    async with LoopbackServer(panel.app) as server:
        yield panel, server.url


async def _stored(ctx: Context, workspace_id: int) -> PanelConnection | None:
    async with ctx.db.session(workspace_id) as s:
        return (await s.execute(select(PanelConnection))).scalar()


async def test_save_shows_only_masked_keys(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    empty = await owner.get("/w/acme/panel")
    assert "Connect your panel" in empty.text and "Test connection" not in empty.text
    r = await post(owner, "/w/acme/panel", {"type": "perfectpanel", "url": "https://panel.test/",
                                            "api_key": "admin-key-abcdef-1706",
                                            "user_api_key": "user-key-xyz-9876"}, follow=True)
    assert ("success", "Panel connection saved. Press “Test connection” to check it.") \
        in flashes(r.text)
    assert "••••1706" in r.text and "••••9876" in r.text
    assert "admin-key-abcdef" not in r.text and "user-key-xyz" not in r.text
    assert 'value="https://panel.test"' in r.text and "Test connection" in r.text
    conn = await _stored(ctx, tenants.acme_id)
    assert conn is not None and reveal(ctx.keyring, conn.api_key) == "admin-key-abcdef-1706"


async def test_empty_key_fields_keep_the_stored_keys(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    await post(owner, "/w/acme/panel", {"type": "perfectpanel", "url": "https://panel.test",
                                        "api_key": "admin-key-abcdef-1706",
                                        "user_api_key": "user-key-xyz-9876"})
    r = await post(owner, "/w/acme/panel", {"type": "rental", "url": "https://other.test",
                                            "api_key": "", "user_api_key": ""}, follow=True)
    assert flashes(r.text)[0][0] == "success"
    conn = await _stored(ctx, tenants.acme_id)
    assert conn is not None and conn.panel_type == "rental"
    assert reveal(ctx.keyring, conn.api_key) == "admin-key-abcdef-1706"
    assert conn.user_api_key is not None
    r = await post(owner, "/w/acme/panel", {"type": "rental", "url": "https://other.test"},
                   follow=True)
    assert ("info", "Nothing changed.") in flashes(r.text)
    r = await post(owner, "/w/acme/panel", {"type": "rental", "url": "https://other.test",
                                            "api_key": "new-admin-key-0000-2222",
                                            "clear_user_api_key": "1"}, follow=True)
    conn = await _stored(ctx, tenants.acme_id)
    assert conn is not None and conn.user_api_key is None
    assert reveal(ctx.keyring, conn.api_key) == "new-admin-key-0000-2222"
    assert "••••2222" in r.text and "Remove the stored user API key" not in r.text


async def test_invalid_form_says_what_is_wrong_beside_the_field(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/panel", {"type": "perfectpanel", "url": "ftp://panel.test",
                                            "api_key": "admin-key-abcdef-1706"})
    assert r.status_code == 422
    assert field_errors(r.text) == {
        "url": "The panel address must be an http(s) URL such as https://yourpanel.com."}
    assert 'value="ftp://panel.test"' in r.text  # what was typed stays in the form
    assert "admin-key-abcdef" not in r.text  # …except secrets
    r = await post(owner, "/w/acme/panel", {"type": "joomla", "url": "https://panel.test"})
    assert field_errors(r.text) == {"type": "Choose the panel type."}
    r = await post(owner, "/w/acme/panel", {"type": "perfectpanel", "url": "https://panel.test"})
    assert field_errors(r.text) == {"api_key": "The panel's admin API key is required."}
    assert await _stored(ctx, tenants.acme_id) is None


async def test_connection_test_shows_each_part(
    ctx: Context, clients: ClientFactory, tenants: Tenants,
    sim: tuple[PerfectPanelSim, str],
) -> None:
    panel, url = sim
    owner = await clients(OWNER)
    await post(owner, "/w/acme/panel", {"type": "perfectpanel", "url": url,
                                        "api_key": "wrong-admin-key-1234"})
    r = await post(owner, "/w/acme/panel/test", follow=True)
    assert ("error", "The panel test found problems: see the result below.") in flashes(r.text)
    assert "The Admin API key was rejected" in r.text
    conn = await _stored(ctx, tenants.acme_id)
    assert conn is not None and conn.last_test_ok is False

    await post(owner, "/w/acme/panel", {"type": "perfectpanel", "url": url,
                                        "api_key": panel.admin_key,
                                        "user_api_key": panel.user_key})
    r = await post(owner, "/w/acme/panel/test", follow=True)
    assert ("success", "The panel answered and every checked part works.") in flashes(r.text)
    assert r.text.count('badge-ok">works</span>') == 5
    assert panel.admin_key not in r.text
    assert len(panel.calls_to("/adminapi/v2/orders")) >= 2  # it really asked the panel
    overview = await owner.get("/w/acme")
    assert f"2 of {len(checklist.provided())} done" in overview.text


async def test_connection_test_reports_a_missing_permission(
    clients: ClientFactory, tenants: Tenants, sim: tuple[PerfectPanelSim, str],
) -> None:
    panel, url = sim
    panel.hide_external_id = True
    panel.denied.add("tickets")
    owner = await clients(OWNER)
    await post(owner, "/w/acme/panel", {"type": "perfectpanel", "url": url,
                                        "api_key": panel.admin_key})
    # console.js asks for the result alone, to swap it in without reloading the page.
    r = await owner.post("/w/acme/panel/test", headers={"x-console-partial": "1"},
                         data={"csrf_token": (await owner.get("/w/acme/panel")).text.split(
                             'name="csrf_token" value="')[1].split('"')[0]})
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="test-result"')
    assert "<html" not in r.text
    assert "The panel test found problems." in r.text
    assert r.text.count('badge-problem">fails</span>') == 2  # external id, tickets
    assert "Tested just now." in r.text
    assert "No user API key" in r.text  # the services part was not checked, and says why


async def test_test_without_connection_says_to_save_first(
    clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/panel/test", follow=True)
    assert ("error", "Save a panel connection first, then test it.") in flashes(r.text)


async def test_remove_connection(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    owner = await clients(OWNER)
    await post(owner, "/w/acme/panel", {"type": "perfectpanel", "url": "https://panel.test",
                                        "api_key": "admin-key-abcdef-1706"})
    r = await post(owner, "/w/acme/panel/delete", follow=True)
    assert ("success", "The panel connection and its keys were removed.") in flashes(r.text)
    assert await _stored(ctx, tenants.acme_id) is None
