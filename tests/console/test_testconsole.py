"""The test console: a command as a linked customer or a support chat through the real pipeline
over the panel simulator, each order's checks, the customer's answer and the provider commands,
nothing sent or claimed, runs kept, the checklist step, validation, and owners only."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from panelpilot.context import Context
from panelpilot.orders.models import CommandLog, OrderCooldown, OrderTestRun
from panelpilot.outbox.models import OutboundMessage
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, field_errors, flashes, post
from tests.orders.helpers import JOHN, PROVIDER_GROUP, Shop, make_shop
from tests.support import Tenants

URL = "/w/acme/test-console"


@pytest.fixture
async def shop(ctx: Context, tenants: Tenants) -> AsyncIterator[Shop]:
    async for s in make_shop(ctx):
        yield s


async def _count(ctx: Context, workspace_id: int, model: type) -> int:
    async with ctx.db.session(workspace_id) as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


def _text(page: str) -> str:
    """The page's main content as a person reads it."""
    main = re.search(r"<main.*?</main>", page, re.S)
    assert main is not None
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main.group(0))))


def _checks(page: str) -> list[tuple[str, str]]:
    """(state, label) of every check on the page, in order."""
    return re.findall(r'<li class="check-(\w+)">.*?<strong>(.*?)</strong>', page)


async def _run(owner: object, as_: str, text: str) -> str:
    r = await post(owner, URL, {"as": as_, "text": text}, follow=True)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return r.text


async def test_a_passing_command_shows_everything_and_sends_nothing(
    shop: Shop, clients: ClientFactory
) -> None:
    owner = await clients(OWNER)
    form = await owner.get(URL)
    assert form.status_code == 200
    assert '<option value="john_doe">john_doe (tg:555000111)</option>' in form.text
    assert '<option value="jane_smith" selected>jane_smith (tg:555000222, tg:-100500)' \
        in form.text
    assert "As a support chat" in form.text
    before = (await _count(shop.ctx, shop.workspace_id, OutboundMessage),
              await _count(shop.ctx, shop.workspace_id, CommandLog))
    page = await _run(owner, "john_doe", "2274209 refill")
    text = _text(page)
    assert flashes(page) == [("success", "The test passed: the command would go to a provider "
                                         "group.")]
    for expected in ("passed “2274209 refill”", "Passed: refill for 1 of 1 order allowed; "
                     "1 command would go to smmprovider.", "Read as order action: refill",
                     "Order ids 2274209", "allowed: would be sent", "status completed",
                     "provider smmprovider.com", "external id EXT-99812",
                     "the panel says the order is john_doe's", "30-day refill window open",
                     "provider smmprovider.com goes to route smmprovider",
                     "✅ 2274209: refill request sent.", "EXT-99812 refill",
                     f"tg: {PROVIDER_GROUP}", "As john_doe · run by owner@acme.test"):
        assert expected in text, expected
    assert [state for state, _ in _checks(page)] == ["pass"] * 6
    # Nothing queued, claimed or logged as a customer command; the run itself is kept.
    assert (await _count(shop.ctx, shop.workspace_id, OutboundMessage),
            await _count(shop.ctx, shop.workspace_id, CommandLog)) == before
    assert await _count(shop.ctx, shop.workspace_id, OrderCooldown) == 0
    async with shop.ctx.db.session(shop.workspace_id) as s:
        run = (await s.execute(select(OrderTestRun))).scalar_one()
    assert (run.run_by, run.username, run.text, run.passed) == (
        "owner@acme.test", "john_doe", "2274209 refill", True)
    assert run.result["dispatches"][0]["text"] == "EXT-99812 refill"
    # The customer's real command still goes through afterwards.
    assert (await shop.say(JOHN, "2274209 refill")).replies == ["✅ 2274209: refill request sent."]


async def test_each_check_says_why_an_order_is_refused(
    shop: Shop, clients: ClientFactory
) -> None:
    owner = await clients(OWNER)
    page = await _run(owner, "john_doe", "2274214 2274218 refill")
    text = _text(page)
    assert "Not passed: no order was allowed (not eligible, not yours)." in text
    states = [state for state, _ in _checks(page)]
    # 2274214 is canceled: found and owned, refused at the action's rules, the rest not reached.
    assert states[:6] == ["pass", "pass", "fail", "skip", "skip", "skip"]
    assert "refills are for completed orders; this one is canceled" in text
    # 2274218 is jane_smith's: refused at ownership; the customer never learns whose it is.
    assert states[6:] == ["pass", "fail", "skip", "skip", "skip", "skip"]
    assert "the order belongs to 'jane_smith', not 'john_doe'" in text
    assert "Nothing would be sent to a provider." in text
    assert flashes(page) == [("info", "The test ran: see below what would happen and why.")]


async def test_typos_support_chats_and_the_fallback_group(
    shop: Shop, clients: ClientFactory
) -> None:
    owner = await clients(OWNER)
    typo = _text(await _run(owner, "john_doe", "2274209 refil"))
    assert "Typo corrected “refil” was read as refill" in typo
    support = await _run(owner, "__support__", "2274218 refill")
    text = _text(support)
    assert "As a support chat" in text and "a support chat may act on any order" in text
    assert "Passed:" in text
    # smmlite.ru has no route: the fallback support group would get it, which is no provider.
    fallback = await _run(owner, "__support__", "2274220 cancel")
    text = _text(fallback)
    assert "Not passed: the allowed orders would go to the fallback support group" in text
    assert [s for s, _ in _checks(fallback)][-1] == "warn"
    assert "fallback support group" in text


async def test_commands_that_are_not_order_actions(shop: Shop, clients: ClientFactory) -> None:
    owner = await clients(OWNER)
    silent = _text(await _run(owner, "john_doe", "hello there"))
    assert "Not passed: Not a command: in strict mode (the default) the bot stays silent" in silent
    status = _text(await _run(owner, "john_doe", "2274209 status"))
    assert "a status question (1 order) is answered from the panel" in status
    helped = _text(await _run(owner, "john_doe", "help"))
    assert "This is the help command" in helped


async def test_form_errors_keep_what_was_typed(shop: Shop, clients: ClientFactory) -> None:
    owner = await clients(OWNER)
    r = await post(owner, URL, {"as": "john_doe", "text": "   "})
    assert r.status_code == 422
    assert field_errors(r.text) == {"text": "Type a command, for example 2274209 refill."}
    r = await post(owner, URL, {"as": "mallory", "text": "2274209 refill"})
    assert r.status_code == 422
    assert field_errors(r.text) == {
        "as": "Choose a linked user from the list, or “As a support chat”."}
    assert 'value="2274209 refill"' in r.text
    assert await _count(shop.ctx, shop.workspace_id, OrderTestRun) == 0


async def test_without_a_panel_the_test_says_so(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    page = await owner.get(URL)
    assert "There is no panel connection yet" in _text(page.text)
    assert "No chat is linked yet: test as a support chat" in _text(page.text)
    result = _text(await _run(owner, "__support__", "2274209 refill"))
    assert "Not passed: the panel could not be asked (no panel connection: connect the panel "\
           "first)." in result
    assert "We could not check your order right now" in result  # the customer's answer


async def test_recent_runs_and_run_pages(shop: Shop, clients: ClientFactory,
                                         tenants: Tenants) -> None:
    owner = await clients(OWNER)
    await _run(owner, "john_doe", "2274214 refill")
    await _run(owner, "john_doe", "2274209 refill")
    page = await owner.get(URL)
    rows = re.findall(r'<td data-label="Command"><code class="break">(.*?)</code>', page.text)
    assert rows == ["2274209 refill", "2274214 refill"]
    async with shop.ctx.db.session(shop.workspace_id) as s:
        first = (await s.execute(select(OrderTestRun).order_by(OrderTestRun.id))).scalars().first()
    assert first is not None
    old = await owner.get(f"{URL}/{first.id}")
    assert old.status_code == 200 and "not passed “2274214 refill”" in _text(old.text)
    assert 'value="2274214 refill"' in old.text  # ready to run again
    assert (await owner.get(f"{URL}/999999")).status_code == 404
    assert (await owner.get(f"/w/other/test-console/{first.id}")).status_code == 404
    other = await clients("owner@other.test")
    assert (await other.get(f"/w/other/test-console/{first.id}")).status_code == 404


async def test_checklist_step(shop: Shop, clients: ClientFactory) -> None:
    owner = await clients(OWNER)
    overview = _text((await owner.get("/w/acme")).text)
    assert "Send a test command : to do Run a customer's command" in overview
    await _run(owner, "john_doe", "2274214 refill")
    overview = _text((await owner.get("/w/acme")).text)
    assert "No test has passed yet: open the test console" in overview
    await _run(owner, "john_doe", "2274209 refill")
    overview = _text((await owner.get("/w/acme")).text)
    assert ("Send a test command : done “2274209 refill” passed: refill for 1 of 1 order "
            "allowed; 1 command would go to smmprovider.") in overview


async def test_owners_only(shop: Shop, clients: ClientFactory) -> None:
    agent = await clients(AGENT)
    r = await agent.get(URL)
    assert r.status_code == 403 and "Owners only" in r.text
    assert 'href="/w/acme/test-console"' not in (await agent.get("/w/acme/linked")).text
    # The checklist shows agents the step, without a button to a page they may not open.
    overview = (await agent.get("/w/acme")).text
    assert "Send a test command" in overview and 'href="/w/acme/test-console"' not in overview
    assert (await post(agent, URL, {"as": "john_doe", "text": "2274209 refill"})
            ).status_code == 403
    assert await _count(shop.ctx, shop.workspace_id, OrderTestRun) == 0
    owner_nav = (await (await clients(OWNER)).get("/w/acme/linked")).text
    assert 'href="/w/acme/test-console"' in owner_nav
