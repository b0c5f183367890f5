"""The user/provider API v2 client against the provider simulator, and the value parsers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

from panelpilot.panels.base import (
    AUTH,
    HTML_PAGE,
    TIMEOUT,
    Money,
    PanelError,
    bool_or_none,
    decimal_or_none,
    int_or_none,
    money_or_none,
    parse_order,
    parse_ticket,
    time_or_none,
)
from panelpilot.panels.smmapi import SmmApiClient, parse_service
from panelpilot.sim.provider import ProviderSim
from panelpilot.sim.server import LoopbackServer


@dataclass
class Provider:
    sim: ProviderSim
    url: str
    http: httpx.AsyncClient
    api: SmmApiClient


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    sim = ProviderSim(seed=True)
    async with LoopbackServer(sim.app) as server, httpx.AsyncClient() as http:
        api = SmmApiClient(server.url + "/api/v2", sim.key, http, timeout=2.0)
        yield Provider(sim, server.url, http, api)


async def test_services(provider: Provider) -> None:
    services = {s.id: s for s in await provider.api.services()}
    assert services["1"].name == "Instagram Followers | Refill 30D | 0-1H"
    assert services["1"].refill is True and services["2"].refill is False
    assert services["3"].rate == Decimal("0.00")  # 0.004 per 1000, shown with two places


async def test_status_of_one_and_many(provider: Provider) -> None:
    one = await provider.api.status(["EXT-99812"])
    assert one["EXT-99812"].status == "completed" and one["EXT-99812"].found
    assert one["EXT-99812"].charge is not None and one["EXT-99812"].charge.currency == "USD"

    many = await provider.api.status(["EXT-99813", "EXT-99816", "nope"])
    assert many["EXT-99813"].status == "in progress"
    assert many["EXT-99813"].raw_status == "In progress"
    assert many["EXT-99816"].status == "canceled"
    assert many["nope"].found is False and many["nope"].error == "Incorrect order ID"
    assert len(provider.sim.calls) == 2

    missing = await provider.api.status(["nope"])
    assert missing["nope"].error == "Incorrect order ID"


async def test_status_batches_of_one_hundred(provider: Provider) -> None:
    ids = [f"X{i}" for i in range(150)]
    result = await provider.api.status(ids)
    assert len(result) == 150
    assert [len(c.params["orders"].split(",")) for c in provider.sim.calls] == [100, 50]


async def test_refill_is_recorded_per_order(provider: Provider) -> None:
    result = await provider.api.refill(["EXT-99812", "5163781", "EXT-99817", "EXT-99813"])
    assert result["EXT-99812"].ok and result["EXT-99812"].request_id
    assert result["5163781"].ok
    assert not result["EXT-99817"].ok and "disabled" in (result["EXT-99817"].error or "")
    assert not result["EXT-99813"].ok  # still in progress
    assert [r.order_id for r in provider.sim.refill_requests] == ["EXT-99812", "5163781"]

    single = await provider.api.refill(["EXT-99820"])
    assert single["EXT-99820"].ok and single["EXT-99820"].request_id
    assert provider.sim.calls[-1].params["order"] == "EXT-99820"
    assert provider.sim.refill_requests[-1].order_id == "EXT-99820"

    unknown = await provider.api.refill(["nope"])
    assert not unknown["nope"].ok and unknown["nope"].error == "Incorrect order ID"


async def test_cancel_is_recorded_per_order(provider: Provider) -> None:
    result = await provider.api.cancel(["EXT-99813", "EXT-99812"])
    assert not result["EXT-99813"].ok  # its service has no cancel
    assert not result["EXT-99812"].ok  # completed
    provider.sim.add_order("EXT-55", service_id=1, status="pending", user="*")
    result = await provider.api.cancel(["EXT-55"])
    assert result["EXT-55"].ok
    assert [r.order_id for r in provider.sim.cancel_requests] == ["EXT-55"]


async def test_balance_and_add(provider: Provider) -> None:
    assert await provider.api.balance() == Money(Decimal("2500"), "USD")
    order_id = await provider.api.add(1, "https://instagram.com/new", 1000)
    assert provider.sim.store.orders[order_id].link == "https://instagram.com/new"
    assert (await provider.api.balance()).amount == Decimal("2499.45")
    with pytest.raises(PanelError) as caught:
        await provider.api.add(999, "https://instagram.com/new", 1000)
    assert caught.value.permanent and caught.value.detail == "Incorrect service ID"


async def test_bad_key_is_permanent_and_not_echoed(provider: Provider) -> None:
    api = SmmApiClient(provider.url + "/api/v2", "provider-wrong-key-77", provider.http)
    with pytest.raises(PanelError) as caught:
        await api.balance()
    assert caught.value.permanent and caught.value.reason == AUTH
    assert "provider-wrong-key-77" not in str(caught.value)
    assert provider.sim.key not in str(caught.value)


async def test_transient_failures(provider: Provider) -> None:
    provider.sim.html_next(1, status=503)
    with pytest.raises(PanelError) as caught:
        await provider.api.refill(["EXT-99812"])
    assert caught.value.transient and caught.value.reason == HTML_PAGE
    assert provider.sim.refill_requests == []

    api = SmmApiClient(provider.url + "/api/v2", provider.sim.key, provider.http, timeout=0.3)
    provider.sim.timeout_next(1, seconds=5)
    with pytest.raises(PanelError) as caught:
        await api.status(["EXT-99812"])
    assert caught.value.transient and caught.value.reason == TIMEOUT


# --- parsing of real-world payload variants ---------------------------------------------------


def test_parse_service_variants() -> None:
    service = parse_service({"service": "7", "name": "IG Likes &amp; Views [NR]",
                             "category": "Instagram", "rate": "1,20", "min": "10",
                             "max": "10,000", "refill": "1", "type": "Default"})
    assert service is not None
    assert service.id == "7" and service.name == "IG Likes & Views [NR]"
    assert service.rate == Decimal("1.20") and service.max == 10000
    assert service.refill is True and service.cancel is None
    assert parse_service({"id": 8, "name": "x", "refill": False, "cancel": 0}) is not None
    assert parse_service({"name": "no id"}) is None


@pytest.mark.parametrize(("raw", "expected"), [
    ("0.27819", Decimal("0.27819")), (1.5, Decimal("1.5")), ("$1.20", Decimal("1.20")),
    ("1.20 USD", Decimal("1.20")), ("1,234.50", Decimal("1234.50")), ("1,5", Decimal("1.5")),
    ({"value": "2.5", "currency_code": "EUR"}, Decimal("2.5")), ("", None), (None, None),
    ("n/a", None), (True, None),
])
def test_decimal_parsing(raw: object, expected: Decimal | None) -> None:
    assert decimal_or_none(raw) == expected


def test_small_parsers() -> None:
    assert int_or_none("157") == 157 and int_or_none("Unknown") is None
    assert bool_or_none("true") is True and bool_or_none(0) is False
    assert bool_or_none("maybe") is None
    assert money_or_none({"value": "1.2", "currency_code": "usd"}) == Money(Decimal("1.2"),
                                                                            "USD")
    assert money_or_none("3", "TRY") == Money(Decimal("3"), "TRY")


@pytest.mark.parametrize("raw", [
    "2025-04-30 02:20:43", "2025-04-30T02:20:43Z", "2025-04-30T05:20:43+03:00",
    1745979643, "1745979643", 1745979643000,
])
def test_time_parsing(raw: object) -> None:
    assert time_or_none(raw) == datetime(2025, 4, 30, 2, 20, 43, tzinfo=UTC)


def test_naive_times_take_the_panel_zone() -> None:
    istanbul = timezone(timedelta(hours=3))
    parsed = time_or_none("2025-04-30 05:20:43", istanbul)
    assert parsed == datetime(2025, 4, 30, 2, 20, 43, tzinfo=UTC)
    assert time_or_none("garbage") is None and time_or_none(None) is None


def test_parse_order_tolerates_other_shapes() -> None:
    order = parse_order({"id": "55", "user": {"id": 3, "username": "ali"},
                         "service": {"id": 9, "name": "TikTok Likes"},
                         "status": "In_Progress", "charge": "0.5", "currency": "try",
                         "provider": {"name": "prov.com"}, "external_id": 0,
                         "created_at": 1746000043})
    assert order is not None
    assert order.user == "ali" and order.service_id == "9"
    assert order.service_name == "TikTok Likes" and order.status == "in progress"
    assert order.charge == Money(Decimal("0.5"), "TRY") and order.provider == "prov.com"
    assert order.external_id is None and not order.external_id_hidden
    assert parse_order({"user": "x"}) is None


def test_parse_ticket_tolerates_other_shapes() -> None:
    ticket = parse_ticket({"ticket_id": 9, "username": "bob", "title": "Order",
                           "replies": [{"text": "2274209 refill", "author": "bob"},
                                       {"content": "Done", "sender_type": "admin"}]})
    assert ticket is not None
    assert ticket.id == "9" and ticket.user == "bob" and ticket.subject == "Order"
    assert ticket.first_message == "2274209 refill" and ticket.last_message == "Done"
    assert ticket.messages[1].staff is True
    short = parse_ticket({"id": 3, "user": "x", "subject": "Orders", "message": "1 speed"})
    assert short is not None and short.last_message == "1 speed"
