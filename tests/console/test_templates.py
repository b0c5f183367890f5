"""Customer templates: defaults, the workspace's wording, validation beside the field, reset,
and the preview with sample values (a fragment for the live preview, a page without JS)."""

from __future__ import annotations

import html

from sqlalchemy import select

from panelpilot.context import Context
from panelpilot.templates import service
from panelpilot.templates.models import Template
from tests.console.conftest import ClientFactory
from tests.console.helpers import (
    AGENT,
    OUTSIDER,
    OWNER,
    field_errors,
    flashes,
    post,
    token,
)
from tests.support import Tenants

PARTIAL = {"X-Console-Partial": "1"}


async def _override(ctx: Context, workspace_id: int, key: str) -> str | None:
    async with ctx.db.session(workspace_id) as s:
        return (await s.execute(select(Template.text).where(Template.key == key))).scalar()


async def test_list_shows_every_template_with_its_default(
    clients: ClientFactory, tenants: Tenants
) -> None:
    r = await (await clients(OWNER)).get("/w/acme/templates")
    assert r.status_code == 200
    for key in service.DEFAULTS:
        assert f'href="/w/acme/templates/{key}"' in r.text
    assert f"0 of {len(service.DEFAULTS)} in your wording" in r.text
    assert "Customer templates" in r.text  # in the navigation


async def test_owner_edits_and_resets_a_template(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    page = await owner.get("/w/acme/templates/api_problem")
    assert html.escape(service.DEFAULTS["api_problem"]) in page.text
    assert "Reset to default" not in page.text  # nothing to reset yet

    # Browsers send CRLF line breaks from a textarea; customers get plain newlines.
    r = await post(owner, "/w/acme/templates/api_problem",
                   {"text": "Our panel is busy.\r\nTry again soon."}, follow=True)
    assert ("success", "Saved: customers get your wording from now on.") in flashes(r.text)
    assert await _override(ctx, tenants.acme_id, "api_problem") == \
        "Our panel is busy.\nTry again soon."
    assert "your wording" in r.text and "Reset to default" in r.text
    async with ctx.db.session(tenants.acme_id) as s:  # what the bot itself now sends
        assert await service.render(s, "api_problem") == "Our panel is busy.\nTry again soon."

    listing = await owner.get("/w/acme/templates?show=custom")
    assert "api_problem" in listing.text and 'href="/w/acme/templates/help"' not in listing.text

    r = await post(owner, "/w/acme/templates/api_problem/reset", follow=True)
    assert ("success", "Back to the default wording.") in flashes(r.text)
    assert await _override(ctx, tenants.acme_id, "api_problem") is None


async def test_saving_the_default_word_for_word_follows_the_default(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    await post(owner, "/w/acme/templates/help", {"text": "Write your order id."})
    r = await post(owner, "/w/acme/templates/help", {"text": service.DEFAULTS["help"]},
                   follow=True)
    assert ("success", "This is the default wording, so the bot uses the default.") \
        in flashes(r.text)
    assert await _override(ctx, tenants.acme_id, "help") is None
    r = await post(owner, "/w/acme/templates/help", {"text": service.DEFAULTS["help"]},
                   follow=True)
    assert ("info", "Nothing changed.") in flashes(r.text)


async def test_invalid_text_is_refused_beside_the_field(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/templates/help", {"text": "   "})
    assert r.status_code == 422
    assert field_errors(r.text) == {"text": "A template can not be empty."}
    too_long = "x" * (service.MAX_LENGTH + 1)
    r = await post(owner, "/w/acme/templates/help", {"text": too_long})
    assert r.status_code == 422
    assert field_errors(r.text) == {"text": f"A template is at most {service.MAX_LENGTH} "
                                            "characters."}
    assert too_long in r.text  # what was typed stays in the form
    assert await _override(ctx, tenants.acme_id, "help") is None


async def test_live_preview_fills_in_sample_values(
    clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    service.register_defaults({"console_test_sent": "✅ {ids}: {action} request sent."})
    try:
        r = await post(owner, "/w/acme/templates/console_test_sent/preview",
                       {"text": "Done: {ids} ({action}) by {agent}"}, follow=False)
        assert r.status_code == 200 and "<html" in r.text  # without JS: the whole page
        r = await owner.post("/w/acme/templates/console_test_sent/preview", headers=PARTIAL,
                             data={"text": "Done: {ids} ({action}) by {agent}",
                                   "csrf_token": await token(owner)})
        assert r.status_code == 200 and "<html" not in r.text
        assert 'id="template-preview"' in r.text
        assert '<mark class="value">2274209, 2274210</mark>' in r.text
        assert '<mark class="value">refill</mark>' in r.text
        # A value the bot does not fill in is shown as customers would see it, with a warning.
        assert '<mark class="unknown">{agent}</mark>' in r.text
        assert "{agent} is not one of this message&#39;s values ({ids}, {action})" in r.text
        page = await owner.get("/w/acme/templates/console_test_sent")
        assert "✅ <mark class=\"value\">2274209, 2274210</mark>: " in page.text
    finally:
        service.DEFAULTS.pop("console_test_sent", None)


async def test_preview_warns_about_braces_that_do_not_pair(
    clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await post(owner, "/w/acme/templates/help/preview", {"text": "Send {ids and go"})
    assert "can not be filled in" in r.text and "Send {ids and go" in r.text
    r = await post(owner, "/w/acme/templates/help/preview", {"text": ""})
    assert "A template can not be empty." in r.text


async def test_agent_reads_but_cannot_change_templates(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    agent = await clients(AGENT)
    page = await agent.get("/w/acme/templates/help")
    assert page.status_code == 200
    assert "<textarea" not in page.text and "Reset to default" not in page.text
    for path in ("/w/acme/templates/help", "/w/acme/templates/help/reset",
                 "/w/acme/templates/help/preview"):
        r = await post(agent, path, {"text": "Agent wording"})
        assert r.status_code == 403, path
    assert await _override(ctx, tenants.acme_id, "help") is None


async def test_unknown_template_and_outsider_get_404(
    clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    assert (await owner.get("/w/acme/templates/no_such_thing")).status_code == 404
    assert (await post(owner, "/w/acme/templates/no_such_thing", {"text": "x"})).status_code \
        == 404
    outsider = await clients(OUTSIDER)
    assert (await outsider.get("/w/acme/templates/help")).status_code == 404


async def test_preview_warns_about_values_that_are_not_plain_names(
    clients: ClientFactory, tenants: Tenants
) -> None:
    service.register_defaults({"console_test_ids": "{ids}: done."})
    try:
        owner = await clients(OWNER)
        r = await post(owner, "/w/acme/templates/console_test_ids/preview",
                       {"text": "{ids.upper}: done."})
        assert "Write values as plain names, like {ids}: {ids.upper} would not show" in r.text
    finally:
        service.DEFAULTS.pop("console_test_ids", None)
