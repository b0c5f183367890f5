"""The Perfect Panel, rental panel and provider simulators over raw HTTP: published shapes,
demo data, fault injection, the control API and standalone running."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from panelpilot.sim.perfectpanel import PerfectPanelSim
from panelpilot.sim.provider import ProviderSim
from panelpilot.sim.rental import RentalPanelSim
from panelpilot.sim.server import LoopbackServer
from panelpilot.sim.smm_data import STATUSES


@pytest.fixture
async def pp() -> AsyncIterator[tuple[PerfectPanelSim, httpx.AsyncClient]]:
    sim = PerfectPanelSim(seed=True, rate_limit=None)
    async with LoopbackServer(sim.app) as server, httpx.AsyncClient(
            base_url=server.url, headers={"X-Api-Key": sim.admin_key}) as http:
        yield sim, http


@pytest.fixture
async def rental() -> AsyncIterator[tuple[RentalPanelSim, httpx.AsyncClient]]:
    sim = RentalPanelSim(seed=True, rate_limit=None)
    async with LoopbackServer(sim.app) as server, httpx.AsyncClient(base_url=server.url) as http:
        yield sim, http


# --- Perfect Panel: demo data and shapes -----------------------------------------------------


async def test_demo_order_2274209(pp: tuple[PerfectPanelSim, httpx.AsyncClient]) -> None:
    sim, http = pp
    answer = await http.get("/adminapi/v2/orders/2274209")
    assert answer.status_code == 200
    body = answer.json()
    assert body["error_code"] == 0 and not body["error_message"]
    order = body["data"]
    assert order["id"] == 2274209 and order["external_id"] == "EXT-99812"
    assert order["user"] == "john_doe" and order["status"] == "completed"
    assert order["provider"] == "smmprovider.com"
    assert "Refill: 30 Days" in order["service_name"]
    assert set(order["charge"]) >= {"value", "currency_code"}
    assert len(order["created"]) == 19  # "YYYY-MM-DD HH:MM:SS"


async def test_demo_data_is_realistic(pp: tuple[PerfectPanelSim, httpx.AsyncClient]) -> None:
    sim, _ = pp
    store = sim.store
    john = store.user("john_doe")
    assert john is not None and john.balance > 0
    names = [s.name for s in store.services.values()]
    assert len(names) >= 20
    for expected in ("Instagram Followers [Start: 0-1 Hour] [Refill: 30 Days] [10K/Day]",
                     "TikTok Views | Instant | No Refill",
                     "YouTube Likes ♻️ 30D Refill ⏱ 0-12 Hrs",
                     "Instagram Takipçi [Başlama: 0-1 Saat] [30 Gün Telafi]",
                     "Подписчики Instagram [Старт 0-2 часа] [Гарантия 30 дней]"):
        assert expected in names
    assert any("Lifetime Refill" in n for n in names) and any("[NR]" in n for n in names)
    assert {o.status for o in store.orders.values()} == set(STATUSES)
    subjects = {t.subject for t in store.tickets.values()}
    assert {"Order", "Orders"} <= subjects
    assert store.tickets["501"].messages[0].text == "2274209 refill"


async def test_orders_list_envelope_filter_and_pages(
    pp: tuple[PerfectPanelSim, httpx.AsyncClient],
) -> None:
    _, http = pp
    body = (await http.get("/adminapi/v2/orders", params={"limit": 3})).json()
    assert set(body) >= {"data", "pagination", "error_message", "error_code"}
    assert body["data"]["count"] >= 14 and len(body["data"]["list"]) == 3
    assert body["pagination"]["next_page_href"]
    page2 = (await http.get(body["pagination"]["next_page_href"])).json()
    assert page2["pagination"]["offset"] == 3
    filtered = (await http.get("/adminapi/v2/orders",
                               params={"ids": "2274209,2274210,1"})).json()
    assert sorted(o["id"] for o in filtered["data"]["list"]) == [2274209, 2274210]


async def test_users_and_tickets_endpoints(pp: tuple[PerfectPanelSim, httpx.AsyncClient]) -> None:
    sim, http = pp
    users = (await http.get("/adminapi/v2/users", params={"username": "john_doe"})).json()
    assert users["data"]["list"][0]["balance"]["value"] == "125.50"
    ticket = (await http.get("/adminapi/v2/tickets/501")).json()["data"]
    assert ticket["messages"][0]["message"] == "2274209 refill"
    reply = await http.post("/adminapi/v2/tickets/501/reply", json={"message": "Done"})
    assert reply.status_code == 200 and sim.replies_to(501) == ["Done"]
    added = await http.post("/adminapi/v2/tickets/add", data={
        "username": "jane_smith", "subject": "Link", "message": "Code 123456"})
    new_id = str(added.json()["data"]["id"])
    assert sim.created_tickets[-1].id == new_id
    missing = await http.post("/adminapi/v2/tickets/add",
                              json={"username": "ghost", "subject": "x", "message": "y"})
    assert missing.status_code == 400 and missing.json()["error_message"]


async def test_bad_key_denied_section_and_unknown_paths(
    pp: tuple[PerfectPanelSim, httpx.AsyncClient],
) -> None:
    sim, http = pp
    bad = await http.get("/adminapi/v2/orders", headers={"X-Api-Key": "nope"})
    assert bad.status_code == 401 and bad.json()["error_message"] == "Invalid API key"
    sim.denied = {"users"}
    assert (await http.get("/adminapi/v2/users")).status_code == 403
    assert (await http.get("/adminapi/v2/orders/424242")).status_code == 404
    assert (await http.get("/adminapi/v2/whatever")).status_code == 404


async def test_hidden_external_id_switch_over_control_api(
    pp: tuple[PerfectPanelSim, httpx.AsyncClient],
) -> None:
    sim, http = pp
    state = (await http.post("/_sim/faults", json={"hide_external_id": True})).json()
    assert state["hide_external_id"] is True
    order = (await http.get("/adminapi/v2/orders/2274209")).json()["data"]
    assert "external_id" not in order and order["provider"] == "smmprovider.com"


async def test_user_api_on_the_panel(pp: tuple[PerfectPanelSim, httpx.AsyncClient]) -> None:
    sim, http = pp
    services = (await http.post("/api/v2", data={"key": sim.user_key,
                                                 "action": "services"})).json()
    assert len(services) >= 20 and {"service", "name", "rate", "min", "max",
                                    "category", "refill"} <= set(services[0])
    status = (await http.post("/api/v2", data={"key": sim.user_key, "action": "status",
                                               "order": "2274210"})).json()
    assert status["status"] == "In progress"
    other = (await http.post("/api/v2", data={"key": sim.user_key, "action": "status",
                                              "order": "2274218"})).json()
    assert other == {"error": "Incorrect order ID"}  # jane's order, not john's
    bad = (await http.post("/api/v2", data={"key": "x", "action": "balance"})).json()
    assert bad == {"error": "Invalid API key"}
    wrong = (await http.post("/api/v2", data={"key": sim.user_key, "action": "x"})).json()
    assert wrong == {"error": "Incorrect request"}


# --- fault injection --------------------------------------------------------------------------


async def test_fail_next_and_html_next(pp: tuple[PerfectPanelSim, httpx.AsyncClient]) -> None:
    sim, http = pp
    sim.fail_next(502, count=2)
    sim.html_next(1, status=403)
    assert (await http.get("/adminapi/v2/orders")).status_code == 502
    assert (await http.get("/adminapi/v2/orders")).status_code == 502
    page = await http.get("/adminapi/v2/orders")
    assert page.status_code == 403 and "text/html" in page.headers["content-type"]
    assert "Just a moment" in page.text and "cloudflare" in page.headers["server"]
    assert page.headers["cf-ray"]
    assert (await http.get("/adminapi/v2/orders")).status_code == 200
    assert len(sim.calls) == 4


async def test_timeout_next_hangs_past_the_client(
    pp: tuple[PerfectPanelSim, httpx.AsyncClient],
) -> None:
    sim, http = pp
    sim.timeout_next(1, seconds=5)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        await http.get("/adminapi/v2/orders", timeout=0.3)
    assert time.monotonic() - started < 2
    assert (await http.get("/adminapi/v2/orders")).status_code == 200


async def test_rate_limit_answers_429_with_retry_after(
    pp: tuple[PerfectPanelSim, httpx.AsyncClient],
) -> None:
    sim, http = pp
    sim.rate_limit = 5
    answers = await asyncio.gather(*(http.get("/adminapi/v2/users") for _ in range(10)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) >= 5 and 429 in statuses
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["retry-after"] == "1"
    assert sim.faults.rejected == statuses.count(429)
    await asyncio.sleep(1.0)
    assert (await http.get("/adminapi/v2/users")).status_code == 200


async def test_malformed_and_fault_control_over_http(
    pp: tuple[PerfectPanelSim, httpx.AsyncClient],
) -> None:
    sim, http = pp
    await http.post("/_sim/faults", json={"malformed_next": 1})
    await http.post("/_sim/faults", json={"fail_next": {"status": 500}})
    broken = await http.get("/adminapi/v2/orders")
    with pytest.raises(ValueError):
        broken.json()
    assert (await http.get("/adminapi/v2/orders")).status_code == 500
    calls = (await http.get("/_sim/calls")).json()
    assert [c["path"] for c in calls] == ["/adminapi/v2/orders"] * 2  # control calls not logged


async def test_control_api_adds_and_reads(pp: tuple[PerfectPanelSim, httpx.AsyncClient]) -> None:
    sim, http = pp
    await http.post("/_sim/users", json={"username": "new_guy", "balance": "5"})
    made = await http.post("/_sim/orders", json={
        "id": 8000001, "user": "new_guy", "service_id": 101, "status": "Completed",
        "external_id": "EXT-1", "provider": "smmprovider.com", "age_days": 3})
    assert made.status_code == 201
    order = (await http.get("/adminapi/v2/orders/8000001")).json()["data"]
    assert order["status"] == "Completed" and order["user"] == "new_guy"
    ticket = (await http.post("/_sim/tickets", json={
        "user": "new_guy", "subject": "Order", "message": "8000001 refill"})).json()
    await http.post(f"/adminapi/v2/tickets/{ticket['id']}/reply", json={"message": "ok"})
    assert (await http.get("/_sim/replies")).json()[-1] == {"ticket_id": ticket["id"],
                                                           "text": "ok"}
    state = (await http.post("/_sim/reset", json={"seed": False})).json()
    assert state["orders"] == 0 and state["calls"] == 0


# --- rental panel -----------------------------------------------------------------------------


async def test_rental_v1_actions(rental: tuple[RentalPanelSim, httpx.AsyncClient]) -> None:
    sim, http = rental

    async def call(**params: Any) -> Any:
        return (await http.get("/adminapi/v1", params={"key": sim.admin_key, **params})).json()

    body = await call(action="getOrders-by-id", orders="2274209,2274214", provider=1)
    assert body["status"] == "success"
    first, second = body["orders"]
    assert first["username"] == "john_doe" and first["order_status"] == "Completed"
    assert first["service"].startswith("Instagram Followers") and first["external_id"]
    assert second["order_status"] == "Cancelled"
    plain = await call(action="getOrders-by-id", orders="2274209")
    assert "external_id" not in plain["orders"][0]
    assert (await call(action="getUser", username="john_doe"))["user"]["balance"] == "125.5000"
    assert (await call(action="getUser", username="zz"))["status"] == "error"
    assert (await call(action="getTickets"))["error"] == "bad_action"
    bad = (await http.get("/adminapi/v1", params={"key": "x", "action": "getOrders"})).json()
    assert bad == {"error": "bad_auth"}
    added = (await http.post("/adminapi/v1", data={
        "key": sim.admin_key, "action": "addTicket", "username": "john_doe",
        "subject": "Link", "message": "code"})).json()
    assert added["status"] == "success" and sim.created_tickets[-1].id == str(added["ticket_id"])


# --- provider ---------------------------------------------------------------------------------


async def test_provider_records_refills_and_cancels() -> None:
    sim = ProviderSim(seed=True)
    async with LoopbackServer(sim.app) as server, httpx.AsyncClient(base_url=server.url) as http:
        refill = (await http.post("/api/v2", data={"key": sim.key, "action": "refill",
                                                   "orders": "EXT-99812,EXT-99817"})).json()
        assert refill[0]["order"] == "EXT-99812" and isinstance(refill[0]["refill"], int)
        assert "error" in refill[1]["refill"]
        sim.add_order("EXT-7", service_id=1, status="in_progress", user="*")
        cancel = (await http.post("/api/v2", data={"key": sim.key, "action": "cancel",
                                                   "orders": "EXT-7"})).json()
        assert cancel == [{"order": "EXT-7", "cancel": 1}]
        recorded = (await http.get("/_sim/refills")).json()
        assert [r["order_id"] for r in recorded] == ["EXT-99812"]
        assert [r.order_id for r in sim.cancel_requests] == ["EXT-7"]


# --- standalone -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("module", ["perfectpanel", "rental", "provider"])
def test_runs_standalone_with_demo_data(module: str) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", f"panelpilot.sim.{module}", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        state = None
        while time.monotonic() < deadline and state is None:
            try:
                state = httpx.get(f"http://127.0.0.1:{port}/_sim/state", timeout=1).json()
            except httpx.HTTPError:
                time.sleep(0.1)
        assert state is not None, "the simulator did not come up"
        assert state["orders"] > 0 and state["rate_limit"] == 5.0
    finally:
        process.terminate()
        process.wait(timeout=10)
