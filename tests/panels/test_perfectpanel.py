"""The Perfect Panel adapter against the Perfect Panel simulator, over real sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from panelpilot.panels.base import (
    AUTH,
    HTML_PAGE,
    MALFORMED,
    NETWORK,
    NOT_CONFIGURED,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
    UNSUPPORTED,
    ErrorKind,
    Money,
    PanelAdapter,
    PanelError,
    normalize_status,
)
from panelpilot.panels.perfectpanel import PerfectPanelAdapter
from panelpilot.panels.ratelimit import TokenBucket, bucket_for
from panelpilot.panels.registry import make_adapter
from panelpilot.sim.perfectpanel import PerfectPanelSim
from panelpilot.sim.server import LoopbackServer


@dataclass
class Panel:
    sim: PerfectPanelSim
    url: str
    http: httpx.AsyncClient
    adapter: PerfectPanelAdapter

    def adapter_with(self, **options: object) -> PerfectPanelAdapter:
        kwargs: dict[str, object] = dict(base_url=self.url, api_key=self.sim.admin_key,
                                         user_api_key=self.sim.user_key, http=self.http,
                                         rate=500.0, burst=50, timeout=2.0)
        kwargs.update(options)
        return PerfectPanelAdapter(**kwargs)  # type: ignore[arg-type]

    def order_calls(self) -> int:
        return len(self.sim.calls_to("/adminapi/v2/orders"))


@pytest.fixture
async def panel() -> AsyncIterator[Panel]:
    # No server-side limit and a fast client bucket: these tests are about answers, not pace.
    sim = PerfectPanelSim(seed=True, rate_limit=None)
    async with LoopbackServer(sim.app) as server, httpx.AsyncClient() as http:
        adapter = PerfectPanelAdapter(base_url=server.url, api_key=sim.admin_key,
                                      user_api_key=sim.user_key, http=http, rate=500.0,
                                      burst=50, timeout=2.0)
        yield Panel(sim, server.url, http, adapter)


# --- orders -----------------------------------------------------------------------------------


async def test_order_has_every_field_the_checks_need(panel: Panel) -> None:
    orders = await panel.adapter.get_orders(["2274209"])
    order = orders["2274209"]
    assert order.external_id == "EXT-99812"
    assert order.user == "john_doe"
    assert order.provider == "smmprovider.com"
    assert order.status == "completed"
    assert order.service_id == "101"
    assert order.service_name is not None and "[Refill: 30 Days]" in order.service_name
    assert order.quantity == 1000 and order.remains == 0 and order.start_count == 1520
    assert order.charge == Money(Decimal("1.2"), "USD")
    assert order.link == "https://instagram.com/john.doe.shop"
    assert order.created is not None and order.created.tzinfo is not None
    assert timedelta(days=9) < datetime.now(UTC) - order.created < timedelta(days=11)
    assert order.last_update is not None and order.last_update > order.created
    assert order.external_id_hidden is False and order.external_id_note is None
    assert order.raw["id"] == 2274209


async def test_unknown_ids_are_simply_absent(panel: Panel) -> None:
    orders = await panel.adapter.get_orders(["2274209", "1", "abc", "2274209", " 2274210 "])
    assert sorted(orders) == ["2274209", "2274210"]


async def test_no_ids_no_call(panel: Panel) -> None:
    assert await panel.adapter.get_orders([]) == {}
    assert await panel.adapter.get_orders(["not-a-number"]) == {}
    assert panel.sim.calls == []


async def test_ten_ids_take_one_call(panel: Panel) -> None:
    ids = [str(i) for i in range(2274209, 2274219)]
    orders = await panel.adapter.get_orders(ids)
    assert sorted(orders) == ids
    assert panel.order_calls() == 1
    assert panel.sim.calls[0].params["ids"].split(",") == ids


async def test_large_lookups_are_cut_into_pages_of_one_hundred(panel: Panel) -> None:
    ids = ["2274209"] + [str(9_000_000 + i) for i in range(249)]
    orders = await panel.adapter.get_orders(ids)
    assert list(orders) == ["2274209"]
    assert panel.order_calls() == 3


async def test_panel_that_ignores_the_ids_filter_falls_back_to_one_call_per_id(
    panel: Panel,
) -> None:
    panel.sim.ids_filter = False
    ids = ["2274209", "2274210", "2274211", "424242"]
    orders = await panel.adapter.get_orders(ids)
    assert sorted(orders) == ["2274209", "2274210", "2274211"]
    first = panel.order_calls()
    assert len(panel.sim.calls_to("/adminapi/v2/orders/")) == first - 1 >= 1

    # Learned for this panel: the next lookup goes straight to GET /orders/{id}.
    panel.sim.calls.clear()
    again = await panel.adapter.get_orders(["2274212", "2274213"])
    assert sorted(again) == ["2274212", "2274213"]
    assert [c.path for c in panel.sim.calls] == [
        "/adminapi/v2/orders/2274212", "/adminapi/v2/orders/2274213"]


STATUS_TABLE = [
    ("In progress", "in progress"),
    ("in_progress", "in progress"),
    ("inprogress", "in progress"),
    ("Cancelled", "canceled"),
    ("CANCELED", "canceled"),
    ("Partial", "partial"),
    ("Completed", "completed"),
    ("Pending", "pending"),
    ("Processing", "processing"),
    ("  in   progress ", "in progress"),
    ("Refunded", "refunded"),
    ("", "unknown"),
    (None, "unknown"),
]


@pytest.mark.parametrize(("raw", "expected"), STATUS_TABLE)
def test_status_normalization_table(raw: str | None, expected: str) -> None:
    assert normalize_status(raw) == expected


async def test_statuses_are_normalized_as_the_panel_spells_them(panel: Panel) -> None:
    spellings = [raw for raw, _ in STATUS_TABLE if raw]
    ids = []
    for n, raw in enumerate(spellings):
        panel.sim.add_order(7_000_000 + n, status=raw, service_id=101)
        ids.append(str(7_000_000 + n))
    orders = await panel.adapter.get_orders(ids)
    expected = dict(STATUS_TABLE)
    for order_id, raw in zip(ids, spellings, strict=True):
        assert orders[order_id].raw_status == raw.strip() or raw.strip() == ""
        assert orders[order_id].status == expected[raw]


async def test_every_seeded_status_comes_back_normalized(panel: Panel) -> None:
    orders = await panel.adapter.get_orders([str(i) for i in range(2274209, 2274221)])
    statuses = {o.status for o in orders.values()}
    assert {"pending", "in progress", "processing", "completed", "partial",
            "canceled"} <= statuses


async def test_hidden_external_id_is_flagged_with_a_note(panel: Panel) -> None:
    panel.sim.hide_external_id = True
    order = (await panel.adapter.get_orders(["2274209"]))["2274209"]
    assert order.external_id is None
    assert order.external_id_hidden is True
    assert order.external_id_note is not None and "permission" in order.external_id_note
    # An order without provider order is not the same thing as a hidden field.
    panel.sim.hide_external_id = False
    manual = (await panel.adapter.get_orders(["2274219"]))["2274219"]
    assert manual.external_id is None and manual.external_id_hidden is False


# --- failures ---------------------------------------------------------------------------------


def assert_clean(exc: PanelError, *keys: str) -> None:
    for key in keys:
        assert key not in str(exc)
        assert key not in repr(exc)
        assert key not in (exc.detail or "")


async def test_bad_key_is_permanent_and_not_echoed(panel: Panel) -> None:
    adapter = panel.adapter_with(api_key="wrong-key-1234567890")
    with pytest.raises(PanelError) as caught:
        await adapter.get_orders(["2274209"])
    assert caught.value.kind is ErrorKind.PERMANENT and caught.value.permanent
    assert caught.value.kind == "permanent"
    assert caught.value.reason == AUTH
    assert_clean(caught.value, "wrong-key-1234567890", panel.sim.admin_key)


@pytest.mark.parametrize("status", [503, 403])
async def test_cloudflare_page_is_a_transient_api_problem(panel: Panel, status: int) -> None:
    panel.sim.html_next(1, status=status)
    with pytest.raises(PanelError) as caught:
        await panel.adapter.get_orders(["2274209"])
    assert caught.value.transient and caught.value.kind == "transient"
    assert caught.value.reason == HTML_PAGE
    assert "HTML" in str(caught.value)
    assert_clean(caught.value, panel.sim.admin_key)
    assert "2274209" in await panel.adapter.get_orders(["2274209"])  # and it passes


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_server_errors_are_transient(panel: Panel, status: int) -> None:
    panel.sim.fail_next(status)
    with pytest.raises(PanelError) as caught:
        await panel.adapter.get_user("john_doe")
    assert caught.value.transient and caught.value.reason == SERVER_ERROR
    assert caught.value.status_code == status


async def test_timeout_is_transient_and_the_next_call_works(panel: Panel) -> None:
    adapter = panel.adapter_with(timeout=0.3)
    panel.sim.timeout_next(1, seconds=5)
    started = time.monotonic()
    with pytest.raises(PanelError) as caught:
        await adapter.get_orders(["2274209"])
    assert time.monotonic() - started < 3
    assert caught.value.transient and caught.value.reason == TIMEOUT
    assert_clean(caught.value, panel.sim.admin_key)
    assert "2274209" in await adapter.get_orders(["2274209"])


async def test_malformed_json_is_transient(panel: Panel) -> None:
    panel.sim.malformed_next()
    with pytest.raises(PanelError) as caught:
        await panel.adapter.get_orders(["2274209"])
    assert caught.value.transient and caught.value.reason == MALFORMED


async def test_unreachable_panel_is_transient(panel: Panel) -> None:
    server = LoopbackServer(panel.sim.app)
    url = server.url
    server._sock.close()  # a port nobody listens on any more
    adapter = PerfectPanelAdapter(base_url=url, api_key="k-0123456789", http=panel.http)
    with pytest.raises(PanelError) as caught:
        await adapter.get_user("john_doe")
    assert caught.value.transient and caught.value.reason == NETWORK
    assert_clean(caught.value, "k-0123456789")


async def test_wrong_address_is_permanent(panel: Panel) -> None:
    adapter = panel.adapter_with(base_url=panel.url + "/panel")  # nothing lives there
    with pytest.raises(PanelError) as caught:
        await adapter.get_user("john_doe")
    assert caught.value.permanent and caught.value.reason == UNSUPPORTED
    report = await adapter.test_connection()
    assert not report.ok and "check the panel address" in report.problems["orders"]


async def test_one_429_is_waited_out(panel: Panel) -> None:
    panel.sim.fail_next(429, 1, retry_after=0)
    orders = await panel.adapter.get_orders(["2274209"])
    assert "2274209" in orders
    assert panel.order_calls() == 2


async def test_persistent_429_becomes_a_transient_error(panel: Panel) -> None:
    panel.sim.fail_next(429, 5, retry_after=0)
    with pytest.raises(PanelError) as caught:
        await panel.adapter.get_orders(["2274209"])
    assert caught.value.transient and caught.value.reason == RATE_LIMITED
    assert panel.order_calls() == 3


async def test_a_burst_above_the_panel_limit_still_succeeds(panel: Panel) -> None:
    panel.sim.rate_limit = 5
    adapter = panel.adapter_with(rate=100.0, burst=100)  # deliberately too fast
    users = await asyncio.gather(*(adapter.get_user("john_doe") for _ in range(8)))
    assert all(u is not None and u.username == "john_doe" for u in users)
    assert panel.sim.faults.rejected > 0  # the panel did say 429, and we recovered


async def test_default_pace_stays_under_the_panel_limit(panel: Panel) -> None:
    panel.sim.rate_limit = 5
    adapter = PerfectPanelAdapter(base_url=panel.url, api_key=panel.sim.admin_key,
                                  http=panel.http)
    assert adapter.bucket.rate == 5.0 and adapter.bucket.burst == 2
    for _ in range(7):  # more than the panel's burst of 5
        assert await adapter.get_user("jane_smith") is not None
    assert panel.sim.faults.rejected == 0


def test_token_bucket_spaces_calls_after_the_burst() -> None:
    now = [100.0]
    bucket = TokenBucket(rate=5, burst=2, clock=lambda: now[0])
    waits = [bucket.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.2, 0.4, 0.6])
    now[0] += 10
    assert bucket.reserve() == 0.0
    bucket.pause(1.5)
    assert bucket.reserve() == pytest.approx(1.5)


def test_buckets_are_shared_per_panel_url() -> None:
    first = bucket_for("https://panel.example/")
    assert bucket_for("https://PANEL.example") is first
    assert bucket_for("https://other.example") is not first


# --- users, services, tickets -----------------------------------------------------------------


async def test_user_and_balance(panel: Panel) -> None:
    user = await panel.adapter.get_user("John_Doe")
    assert user is not None
    assert user.username == "john_doe"
    assert user.balance == Decimal("125.50") and user.currency == "USD"
    assert await panel.adapter.get_user("john") is None
    assert await panel.adapter.get_user("nobody_here") is None
    assert await panel.adapter.get_user("  ") is None


async def test_services_come_from_the_user_api(panel: Panel) -> None:
    services = {s.id: s for s in await panel.adapter.list_services()}
    assert len(services) >= 20
    followers = services["101"]
    assert followers.name == "Instagram Followers [Start: 0-1 Hour] [Refill: 30 Days] [10K/Day]"
    assert followers.refill is True and followers.cancel is True
    assert followers.rate == Decimal("1.20") and followers.min == 50 and followers.max == 100000
    assert services["105"].name == "Instagram Takipçi [Başlama: 0-1 Saat] [30 Gün Telafi]"
    assert services["103"].refill is False
    assert "&amp;" not in services["122"].name and "& Real" in services["122"].name
    assert panel.sim.calls_to("/api/v2")[0].params["key"] == panel.sim.user_key


async def test_services_without_user_key_is_a_clear_permanent_error(panel: Panel) -> None:
    adapter = panel.adapter_with(user_api_key=None)
    with pytest.raises(PanelError) as caught:
        await adapter.list_services()
    assert caught.value.permanent and caught.value.reason == NOT_CONFIGURED


async def test_tickets_listed_oldest_first_and_after_an_id(panel: Panel) -> None:
    tickets = await panel.adapter.list_tickets()
    assert [t.id for t in tickets] == ["500", "501", "502", "503", "504"]
    assert {t.subject for t in tickets} >= {"Order", "Orders", "Payment"}
    newer = await panel.adapter.list_tickets(since_id="502")
    assert [t.id for t in newer] == ["503", "504"]
    pending = await panel.adapter.list_tickets(status="pending")
    assert "500" not in [t.id for t in pending]


async def test_ticket_thread_reply_and_create(panel: Panel) -> None:
    ticket = await panel.adapter.get_ticket("501")
    assert ticket is not None
    assert ticket.user == "john_doe" and ticket.subject == "Order"
    assert ticket.last_message == "2274209 refill"
    assert ticket.messages[0].staff is False and ticket.created is not None
    assert await panel.adapter.get_ticket("99999") is None

    await panel.adapter.reply_ticket("501", "Refill requested for 2274209.")
    assert panel.sim.replies_to("501") == ["Refill requested for 2274209."]
    thread = await panel.adapter.get_ticket("501")
    assert thread is not None and thread.messages[-1].staff is True

    new_id = await panel.adapter.create_ticket("jane_smith", "Account link",
                                               "Your code is 482913")
    created = panel.sim.created_tickets[-1]
    assert created.id == new_id and created.user == "jane_smith"
    assert created.messages[0].text == "Your code is 482913"


async def test_reply_to_missing_ticket_and_ticket_for_missing_user_fail_permanently(
    panel: Panel,
) -> None:
    with pytest.raises(PanelError) as caught:
        await panel.adapter.reply_ticket("99999", "hello")
    assert caught.value.permanent
    with pytest.raises(PanelError) as caught:
        await panel.adapter.create_ticket("ghost_user", "Hi", "there")
    assert caught.value.permanent


# --- connection test --------------------------------------------------------------------------


async def test_connection_report_all_good(panel: Panel) -> None:
    report = await panel.adapter.test_connection()
    assert report.ok
    assert report.orders_readable and report.external_id_visible
    assert report.users_readable and report.tickets_readable and report.services_readable
    assert report.problems == {}
    stored = asdict(report)  # stored as JSON by the panel service
    assert stored["ok"] is True


async def test_connection_report_says_external_id_is_hidden(panel: Panel) -> None:
    panel.sim.hide_external_id = True
    report = await panel.adapter.test_connection()
    assert not report.ok
    assert report.orders_readable is True
    assert report.external_id_visible is False
    assert "permission" in report.problems["external_id"]
    assert "external id" in report.message


async def test_connection_report_with_bad_key(panel: Panel) -> None:
    adapter = panel.adapter_with(api_key="nope-nope-nope-1234")
    report = await adapter.test_connection()
    assert not report.ok and report.orders_readable is False
    assert "rejected" in report.problems["orders"]
    assert report.users_readable is False and report.tickets_readable is False
    assert report.services_readable is True  # the user API key is a different key
    assert "nope-nope-nope-1234" not in str(asdict(report))


async def test_connection_report_names_each_missing_permission(panel: Panel) -> None:
    panel.sim.denied = {"users", "tickets"}
    adapter = panel.adapter_with(user_api_key=None)
    report = await adapter.test_connection()
    assert not report.ok
    assert report.orders_readable and report.external_id_visible
    assert report.users_readable is False and "read users" in report.problems["users"]
    assert report.tickets_readable is False and "read tickets" in report.problems["tickets"]
    assert report.services_readable is None and "user API key" in report.notes["services"]


async def test_connection_report_behind_cloudflare(panel: Panel) -> None:
    panel.sim.html_next(1, status=403)
    report = await panel.adapter.test_connection()
    assert not report.ok and "Cloudflare" in report.problems["orders"]


# --- registry ---------------------------------------------------------------------------------


async def test_registry_builds_the_adapter(panel: Panel) -> None:
    for spelling in ("perfectpanel", "Perfect Panel", "perfect_panel"):
        adapter = make_adapter(spelling, base_url=panel.url + "/adminapi/v2/",
                               api_key=panel.sim.admin_key, http=panel.http, rate=500.0)
        assert isinstance(adapter, PerfectPanelAdapter)
        assert isinstance(adapter, PanelAdapter)
        assert adapter.panel_type == "perfectpanel"
    assert "2274209" in await adapter.get_orders(["2274209"])
    with pytest.raises(ValueError):
        make_adapter("whmcs", base_url=panel.url, api_key="x", http=panel.http)


async def test_a_burst_of_new_tickets_larger_than_a_page_is_read_whole(panel: Panel) -> None:
    for n in range(60):
        panel.sim.add_ticket("john_doe", "Order", f"22742{n:02d} refill", id=str(600 + n))
    newer = await panel.adapter.list_tickets(since_id="504", limit=25)
    assert [t.id for t in newer] == [str(600 + n) for n in range(60)]
