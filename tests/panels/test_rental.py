"""The rental panel adapter (Admin API v1) against the rental panel simulator."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from decimal import Decimal

import httpx
import pytest

from panelpilot.panels.base import (
    AUTH,
    EXTERNAL_ID_HIDDEN_NOTE,
    HTML_PAGE,
    NOT_FOUND,
    TIMEOUT,
    UNSUPPORTED,
    Money,
    PanelAdapter,
    PanelError,
)
from panelpilot.panels.registry import make_adapter
from panelpilot.panels.rental import RentalPanelAdapter
from panelpilot.sim.rental import RentalPanelSim
from panelpilot.sim.server import LoopbackServer


@dataclass
class Rental:
    sim: RentalPanelSim
    url: str
    http: httpx.AsyncClient
    adapter: RentalPanelAdapter

    def adapter_with(self, **options: object) -> RentalPanelAdapter:
        kwargs: dict[str, object] = dict(base_url=self.url, api_key=self.sim.admin_key,
                                         user_api_key=self.sim.user_key, http=self.http,
                                         rate=500.0, burst=50, timeout=2.0)
        kwargs.update(options)
        return RentalPanelAdapter(**kwargs)  # type: ignore[arg-type]

    def actions(self) -> list[str]:
        return [c.params.get("action", "") for c in self.sim.calls_to("/adminapi/v1")]


@pytest.fixture
async def rental() -> AsyncIterator[Rental]:
    sim = RentalPanelSim(seed=True, rate_limit=None)
    async with LoopbackServer(sim.app) as server, httpx.AsyncClient() as http:
        adapter = RentalPanelAdapter(base_url=server.url, api_key=sim.admin_key,
                                     user_api_key=sim.user_key, http=http, rate=500.0,
                                     burst=50, timeout=2.0)
        yield Rental(sim, server.url, http, adapter)


async def test_v1_field_names_become_the_common_order(rental: Rental) -> None:
    orders = await rental.adapter.get_orders(["2274209", "2274214", "2274210"])
    order = orders["2274209"]
    assert order.user == "john_doe"  # from "username"
    assert order.status == "completed" and order.raw_status == "Completed"  # "order_status"
    assert order.service_name is not None and "[Refill: 30 Days]" in order.service_name
    assert order.service_id == "101"
    assert order.external_id == "EXT-99812" and order.provider == "smmprovider.com"
    assert order.charge == Money(Decimal("1.2"), "USD")
    assert order.quantity == 1000 and order.start_count == 1520 and order.remains == 0
    assert order.created is not None and order.created.tzinfo is not None
    assert orders["2274214"].raw_status == "Cancelled" and orders["2274214"].status == "canceled"
    assert orders["2274210"].status == "in progress"


async def test_ten_ids_take_one_call_with_provider_details(rental: Rental) -> None:
    ids = [str(i) for i in range(2274209, 2274219)]
    orders = await rental.adapter.get_orders(ids + ["31337"])
    assert sorted(orders) == ids
    assert rental.actions() == ["getOrders-by-id"]
    call = rental.sim.calls[0]
    assert call.params["orders"].split(",") == ids + ["31337"]
    assert call.params["provider"] == "1"


async def test_hidden_external_id(rental: Rental) -> None:
    rental.sim.hide_external_id = True
    order = (await rental.adapter.get_orders(["2274209"]))["2274209"]
    assert order.external_id is None and order.external_id_hidden
    assert order.provider == "smmprovider.com"
    report = await rental.adapter.test_connection()
    assert report.external_id_visible is False
    assert report.problems["external_id"] == EXTERNAL_ID_HIDDEN_NOTE
    assert not report.ok


async def test_user_lookup(rental: Rental) -> None:
    user = await rental.adapter.get_user("ivan_petrov")
    assert user is not None and user.balance == Decimal("12.75") and user.currency == "USD"
    assert await rental.adapter.get_user("nobody") is None


async def test_ticket_creation_works_but_reading_is_not_offered(rental: Rental) -> None:
    ticket_id = await rental.adapter.create_ticket("john_doe", "Account link",
                                                   "Your code is 771204")
    created = rental.sim.created_tickets[-1]
    assert created.id == ticket_id and created.subject == "Account link"
    assert rental.sim.calls[-1].method == "POST"  # the write goes as a form, not a URL
    for call in (rental.adapter.list_tickets(), rental.adapter.get_ticket("501"),
                 rental.adapter.reply_ticket("501", "hi")):
        with pytest.raises(PanelError) as caught:
            await call
        assert caught.value.permanent and caught.value.reason == UNSUPPORTED
    with pytest.raises(PanelError) as caught:
        await rental.adapter.create_ticket("ghost", "x", "y")
    assert caught.value.permanent and caught.value.reason == NOT_FOUND


async def test_bad_key_is_permanent_and_never_echoed(rental: Rental) -> None:
    # v1 carries the key in the query string: the error text must still not show it.
    adapter = rental.adapter_with(api_key="rental-wrong-key-5555")
    with pytest.raises(PanelError) as caught:
        await adapter.get_orders(["2274209"])
    assert caught.value.permanent and caught.value.reason == AUTH
    assert "rental-wrong-key-5555" not in str(caught.value)
    assert "rental-wrong-key-5555" not in repr(caught.value)


async def test_cloudflare_and_timeouts_are_transient_without_the_key(rental: Rental) -> None:
    rental.sim.html_next(1, status=403)
    with pytest.raises(PanelError) as caught:
        await rental.adapter.get_orders(["2274209"])
    assert caught.value.transient and caught.value.reason == HTML_PAGE

    adapter = rental.adapter_with(timeout=0.3)
    rental.sim.timeout_next(1, seconds=5)
    started = time.monotonic()
    with pytest.raises(PanelError) as caught:
        await adapter.get_user("john_doe")
    assert time.monotonic() - started < 3
    assert caught.value.transient and caught.value.reason == TIMEOUT
    assert rental.sim.admin_key not in str(caught.value)
    assert await adapter.get_user("john_doe") is not None


async def test_services_from_the_user_api(rental: Rental) -> None:
    services = await rental.adapter.list_services()
    names = [s.name for s in services]
    assert "Подписчики Instagram [Старт 0-2 часа] [Гарантия 30 дней]" in names
    assert "TikTok Views | Instant | No Refill" in names


async def test_connection_report(rental: Rental) -> None:
    report = await rental.adapter.test_connection()
    assert report.ok
    assert report.orders_readable and report.external_id_visible and report.users_readable
    assert report.services_readable
    assert report.tickets_readable is None and "tickets" in report.notes
    assert asdict(report)["ok"] is True


async def test_connection_report_with_bad_key(rental: Rental) -> None:
    adapter = rental.adapter_with(api_key="bad-bad-bad-bad", user_api_key=None)
    report = await adapter.test_connection()
    assert not report.ok and not report.orders_readable
    assert "rejected" in report.problems["orders"]
    assert "bad-bad-bad-bad" not in str(asdict(report))


async def test_registry_aliases(rental: Rental) -> None:
    adapter = make_adapter("Rental Panel", base_url=rental.url + "/adminapi/v1",
                           api_key=rental.sim.admin_key, http=rental.http, rate=500.0)
    assert isinstance(adapter, RentalPanelAdapter) and isinstance(adapter, PanelAdapter)
    assert "2274209" in await adapter.get_orders(["2274209"])
