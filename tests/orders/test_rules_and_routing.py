"""The pure parts: eligibility checks, service rule resolution, provider matching, dispatch
text, rule values admins write, and the compact bulk answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from panelpilot.orders import checks, routing
from panelpilot.orders.rules import OrderRules, check_aliases, parse_refill, parse_start
from panelpilot.orders.service_rules import RefillPolicy, StartWindow
from panelpilot.panels.base import PanelOrder

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def order(status: str = "completed", *, remains: int | None = 0, days: float = 5,
          updated_days: float | None = None) -> PanelOrder:
    created = NOW - timedelta(days=days)
    updated = NOW - timedelta(days=updated_days) if updated_days is not None else created
    return PanelOrder(id="1", external_id="E1", user="u", service_id="9", service_name=None,
                      status=status, raw_status=status, remains=remains, created=created,
                      last_update=updated)


def rule(start: StartWindow | None = None,
         refill: RefillPolicy = RefillPolicy.for_days(30)) -> checks.ServiceRule:
    return checks.ServiceRule("9", "X", start, refill, "name", "name")


HOUR = timedelta(hours=1)


@pytest.mark.parametrize(("status", "remains", "start", "days", "verdict", "reason"), [
    ("in progress", 10, StartWindow(timedelta(0), HOUR), 1, "ok", None),
    ("pending", None, StartWindow(timedelta(0), HOUR), 1, "ok", None),
    ("processing", 10, StartWindow(timedelta(0), timedelta(0)), 0.001, "ok", None),
    ("in progress", 0, StartWindow(timedelta(0), HOUR), 1, "not_eligible", "reason_no_remains"),
    ("completed", 0, StartWindow(timedelta(0), HOUR), 1, "not_eligible", "reason_status"),
    ("partial", 5, StartWindow(timedelta(0), HOUR), 1, "not_eligible", "reason_status"),
    ("in progress", 10, None, 1, "not_eligible", "reason_start_unknown"),
    ("in progress", 10, StartWindow(timedelta(0), 48 * HOUR), 1, "too_early", None),
])
def test_speed(status: str, remains: int | None, start: StartWindow | None, days: float,
               verdict: str, reason: str | None) -> None:
    result = checks.check(order(status, remains=remains, days=days), "speed", rule(start),
                          OrderRules(), NOW)
    assert (result.verdict, result.reason) == (verdict, reason)
    if verdict == "too_early":
        assert result.values["when"] == "in 1 day" and result.values["time_left"] == "1 day"


@pytest.mark.parametrize(("status", "ok"), [
    ("pending", True), ("in progress", True), ("processing", True), ("completed", False),
    ("canceled", False), ("partial", False), ("refunded", False), ("unknown", False),
])
def test_cancel(status: str, ok: bool) -> None:
    assert checks.check(order(status), "cancel", rule(), OrderRules(), NOW).ok is ok


@pytest.mark.parametrize(("status", "policy", "days", "updated", "partial", "verdict", "reason"), [
    ("completed", RefillPolicy.for_days(30), 5, None, False, "ok", None),
    ("completed", RefillPolicy.for_days(30), 31, None, False, "not_eligible",
     "reason_refill_expired"),
    ("completed", RefillPolicy.for_days(30), 40, 20, False, "ok", None),  # from completion
    ("completed", RefillPolicy.lifetime(), 4000, None, False, "ok", None),
    ("completed", RefillPolicy.none(), 1, None, False, "not_eligible", "reason_no_refill"),
    ("completed", RefillPolicy.unknown(), 1, None, False, "not_eligible",
     "reason_refill_unknown"),
    ("partial", RefillPolicy.for_days(30), 1, None, False, "not_eligible", "reason_status"),
    ("partial", RefillPolicy.for_days(30), 1, None, True, "ok", None),
    ("in progress", RefillPolicy.for_days(30), 1, None, False, "not_eligible",
     "reason_not_completed"),
    ("canceled", RefillPolicy.for_days(30), 1, None, False, "not_eligible", "reason_status"),
])
def test_refill(status: str, policy: RefillPolicy, days: float, updated: float | None,
                partial: bool, verdict: str, reason: str | None) -> None:
    rules = OrderRules(partial_refill=partial)
    result = checks.check(order(status, days=days, updated_days=updated), "refill",
                          rule(refill=policy), rules, NOW)
    assert (result.verdict, result.reason) == (verdict, reason), result.detail


def test_refill_window_from_creation() -> None:
    rules = OrderRules(refill_window_from="creation")
    result = checks.check(order(days=40, updated_days=20), "refill", rule(), rules, NOW)
    assert result.reason == "reason_refill_expired"
    assert result.values == {"days": 30, "date": "2025-02-19"}


def test_service_rule_resolution() -> None:
    parsed = checks.resolve_service("1", "Followers [Start: 0-1 Hour] [Refill: 30 Days]", None,
                                    None, None)
    assert (parsed.start, parsed.refill) == (StartWindow(timedelta(0), HOUR),
                                             RefillPolicy.for_days(30))
    assert (parsed.start_from, parsed.refill_from) == ("name", "name")
    fallback = checks.resolve_service("1", "Followers HQ", None, None,
                                      StartWindow(timedelta(0), 24 * HOUR))
    assert fallback.start_from == "default" and fallback.refill == RefillPolicy.unknown()
    both = checks.resolve_service("1", "Followers [NR]", checks.Override(
        refill=RefillPolicy.lifetime()), None, None)
    assert (both.refill, both.refill_from) == (RefillPolicy.lifetime(), "override")
    nameless = checks.resolve_service(None, None, None, None, None)
    assert nameless.start is None and nameless.refill == RefillPolicy.unknown()


@pytest.mark.parametrize(("td", "text"), [
    (timedelta(seconds=5), "1 min"), (timedelta(minutes=35), "35 min"),
    (timedelta(minutes=125), "2 h 5 min"), (timedelta(hours=27), "1 day 3 h"),
    (timedelta(days=3), "3 days"),
])
def test_human_durations(td: timedelta, text: str) -> None:
    assert checks.human(td) == text


# --- provider matching -------------------------------------------------------------------------


ROUTES = [
    routing.RouteInfo(1, "smmprovider", ("smmprovider.com",), 1, "-1", "telegram"),
    routing.RouteInfo(2, "perfect", ("Perfect Smm", "main key"), 1, "-2", "telegram"),
    routing.RouteInfo(3, "fastsmm", ("fast-smm.co.uk",), None, None, None),
]


@pytest.mark.parametrize(("provider", "route"), [
    ("smmprovider.com", "smmprovider"),
    ("SMMProvider.com", "smmprovider"),
    ("https://smmprovider.com/api/v2", "smmprovider"),
    ("https://www.smmprovider.com", "smmprovider"),
    ("api.smmprovider.com", "smmprovider"),
    ("smmprovider", "smmprovider"),
    ("Perfect Smm", "perfect"),
    ("perfect-smm", "perfect"),
    ("PERFECTSMM", "perfect"),
    ("Main Key", "perfect"),
    ("fast-smm.co.uk", "fastsmm"),
    ("https://api.fast-smm.co.uk/v2", "fastsmm"),
    ("notsmmprovider.com", None),
    ("smmprovider.net.evil.com", None),
    ("other.net", None),
    ("", None),
    (None, None),
])
def test_provider_matching(provider: str | None, route: str | None) -> None:
    found = routing.find_route(provider, ROUTES)
    assert (found.name if found else None) == route


def test_overlapping_terms_are_reported() -> None:
    clashes = routing.overlapping_terms([("a", ["x.com", "Name One"]),
                                         ("b", ["https://X.com/api", "name-two"])])
    assert clashes == ["'https://X.com/api' is listed by both 'a' and 'b'"]


def test_dispatch_text_and_batches() -> None:
    items = [routing.Item("1", "E1", "p", "https://l/1", 100),
             routing.Item("2", "E2", "p", None, 200)]
    assert routing.command_text(routing.DEFAULT_COMMAND, "refill", items) == "E1, E2 refill"
    assert routing.command_text("{action}: {external_ids} ({count}) {link} {quantity} {x}",
                                "speed", items) == "speed: E1\nE2 (2) https://l/1 100, 200 {x}"
    many = [routing.Item(str(n), f"E{n}", "p") for n in range(120)]
    assert [len(b) for b in routing.batches(many, bulk=True)] == [50, 50, 20]
    assert len(routing.batches(items, bulk=False)) == 2


# --- values admins write ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "lo", "hi"), [
    ("instant", 0, 0), ("0-1 hour", 0, 3600), ("30 min", 0, 1800), ("2-3 days", 172800, 259200),
    ("12h", 0, 43200), ("1 to 2 hours", 3600, 7200), ("90 mins", 0, 5400),
])
def test_start_windows(text: str, lo: int, hi: int) -> None:
    window = parse_start(text)
    assert (window.min.total_seconds(), window.max.total_seconds()) == (lo, hi)


@pytest.mark.parametrize("text", ["soon", "3-1 hours", "5 parsecs", ""])
def test_bad_start_windows(text: str) -> None:
    with pytest.raises(ValueError):
        parse_start(text)


@pytest.mark.parametrize(("value", "policy"), [
    (30, RefillPolicy.for_days(30)), ("30", RefillPolicy.for_days(30)),
    ("45 days", RefillPolicy.for_days(45)), ("lifetime", RefillPolicy.lifetime()),
    ("none", RefillPolicy.none()), (0, RefillPolicy.none()),
])
def test_refill_values(value: object, policy: RefillPolicy) -> None:
    assert parse_refill(value) == policy


@pytest.mark.parametrize("value", [True, "forever-ish", 4000, "-3"])
def test_bad_refill_values(value: object) -> None:
    with pytest.raises(ValueError):
        parse_refill(value)


def test_rules_defaults_and_cooldowns() -> None:
    rules = OrderRules()
    assert rules.max_ids == 20 and rules.strict and not rules.partial_refill
    assert rules.cooldown("refill") == timedelta(days=1)
    assert OrderRules(cooldown_minutes=5).cooldown("speed") == timedelta(minutes=5)  # type: ignore[arg-type]
    assert OrderRules(cooldown_minutes={"speed": 1}).cooldown("refill") == timedelta(days=1)
    with pytest.raises(ValueError):
        OrderRules(cooldown_minutes={"boost": 1})
    with pytest.raises(ValueError):
        OrderRules.model_validate({"tickets": {"requests": {"boost": ["x"]}}})


def test_aliases_are_checked() -> None:
    assert check_aliases({" yenile ": "Refill", "komutlar": "commands"}) == {
        "yenile": "refill", "komutlar": "commands"}
    with pytest.raises(ValueError):
        check_aliases({"x": "explode"})


# --- compact answers ---------------------------------------------------------------------------


async def test_compact_answer_groups_equal_lines(ctx: object) -> None:
    from panelpilot.context import Context
    from panelpilot.orders.templates import Line, compact

    assert isinstance(ctx, Context)
    async with ctx.db.read_session() as session:
        text = await compact(session, [
            Line("1", "order_sent", {"action": "refill"}),
            Line("2", "order_not_found"),
            Line("3", "order_sent", {"action": "refill"}),
            Line("4", "order_status", {"status": "pending", "quantity": 1, "start_count": 0,
                                       "remains": 1}, groupable=False),
        ])
    assert text.splitlines() == ["✅ 1, 3: refill request sent.", "❌ 2: order not found.",
                                 "📦 4: pending. Quantity 1, start count 0, remains 1."]
