"""Start windows and refill policies read from service names: the table, keywords, properties."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelpilot.orders.service_rules import (
    Keywords,
    ParsedRules,
    RefillPolicy,
    StartWindow,
    describe,
    parse_service_name,
)
from tests.orders.service_names import SERVICE_NAMES

_UNIT = {"m": 60, "h": 3600, "d": 86400}


def _td(spec: str) -> timedelta:
    m = re.fullmatch(r"(\d+)([mhd]?)", spec)
    assert m, spec
    return timedelta(seconds=int(m.group(1)) * _UNIT[m.group(2) or "h"])


def expected_start(spec: str) -> StartWindow | None:
    if not spec:
        return None
    if spec == "instant":
        return StartWindow(timedelta(0), timedelta(0))
    lo, hi = spec.split("-")
    hi_td = _td(hi)
    # "0-1h": the unit of the upper bound applies to a bare lower bound
    lo_td = _td(lo if lo[-1].isalpha() else lo + re.sub(r"\d", "", hi))
    return StartWindow(lo_td, hi_td)


def expected_refill(spec: str) -> RefillPolicy:
    if spec.isdigit():
        return RefillPolicy.for_days(int(spec))
    return RefillPolicy(spec)  # type: ignore[arg-type]


def test_the_table_is_big_and_varied() -> None:
    assert len(SERVICE_NAMES) >= 120
    assert len({name for name, _, _ in SERVICE_NAMES}) == len(SERVICE_NAMES)
    refills = {refill for _, _, refill in SERVICE_NAMES}
    assert {"none", "lifetime", "unknown", "30"} <= refills


@pytest.mark.parametrize(("name", "start", "refill"), SERVICE_NAMES,
                         ids=[n[:60] for n, _, _ in SERVICE_NAMES])
def test_service_name(name: str, start: str, refill: str) -> None:
    parsed = parse_service_name(name)
    assert parsed.start == expected_start(start), parsed.evidence
    assert parsed.refill == expected_refill(refill), parsed.evidence


# --- decisions ----------------------------------------------------------------------------------


def test_instant_is_a_zero_window() -> None:
    parsed = parse_service_name("Instagram Likes [Start Time: Instant]")
    assert parsed.start == StartWindow(timedelta(0), timedelta(0))
    assert parsed.start is not None and parsed.start.instant


def test_a_single_figure_is_an_upper_bound() -> None:
    parsed = parse_service_name("Telegram Members Start 30 Min")
    assert parsed.start == StartWindow(timedelta(0), timedelta(minutes=30))
    assert parsed.start is not None and not parsed.start.instant


def test_non_drop_alone_says_nothing_about_refill() -> None:
    parsed = parse_service_name("Instagram Followers [Non Drop]")
    assert parsed.refill == RefillPolicy.unknown()
    assert any("Non Drop" in e and "says nothing" in e for e in parsed.evidence)


def test_non_drop_with_a_refill_window_is_that_window() -> None:
    assert parse_service_name("Non Drop + 30D refill").refill == RefillPolicy.for_days(30)


def test_contradictions_stay_unknown_and_say_why() -> None:
    parsed = parse_service_name("Instagram Followers [No Refill] [R30]")
    assert parsed.refill == RefillPolicy.unknown()
    assert any("conflicting" in e for e in parsed.evidence)


def test_widest_start_window_wins() -> None:
    parsed = parse_service_name("Likes [Start: Instant] [Start: 0-2 Hours]")
    assert parsed.start == StartWindow(timedelta(0), timedelta(hours=2))
    assert any("widest" in e for e in parsed.evidence)


def test_small_r_codes_are_server_names() -> None:
    assert parse_service_name("Followers Server R2").refill == RefillPolicy.unknown()
    assert parse_service_name("Followers R7").refill == RefillPolicy.for_days(7)


def test_months_weeks_and_years_convert_to_days() -> None:
    assert parse_service_name("Refill 2 Months").refill == RefillPolicy.for_days(60)
    assert parse_service_name("Refill 2 Weeks").refill == RefillPolicy.for_days(14)
    assert parse_service_name("2 Years Guarantee").refill == RefillPolicy.for_days(730)


def test_evidence_quotes_the_deciding_words() -> None:
    parsed = parse_service_name("Instagram Followers [Start: 0-1 Hour] [Refill: 30 Days]")
    assert parsed.evidence == (
        "start: 'Start: 0-1 Hour' → 0 to 1 hour",
        "refill: 'Refill: 30 Days' → 30 days",
    )


def test_unknown_name_says_nothing_was_found() -> None:
    parsed = parse_service_name("Instagram Followers")
    assert parsed == ParsedRules(None, RefillPolicy.unknown(), parsed.evidence)
    assert "start: no start time in the name" in parsed.evidence


@pytest.mark.parametrize(("name", "text"), [
    ("Followers [Start: 0-1 Hour] [Refill: 30 Days]", "Start: within 1 hour. Refill: 30 days."),
    ("Followers [Start: Instant] [Lifetime Refill]", "Start: instant. Refill: lifetime."),
    ("Followers [Start: 1-6 Hours] [No Refill]", "Start: 1 hour to 6 hours. Refill: no refill."),
    ("Followers", "Start: unknown. Refill: unknown."),
])
def test_describe(name: str, text: str) -> None:
    assert describe(parse_service_name(name)) == text


# --- workspace keywords -------------------------------------------------------------------------


def test_workspace_keywords_add_to_the_builtins() -> None:
    kw = Keywords(refill=("Reemplazo",), no_refill=("sin cobertura",),
                  lifetime=("garantía total",), start=("arranque",), instant=("ya mismo",))
    assert parse_service_name("Seguidores Reemplazo 45 días", extra_keywords=kw).refill == \
        RefillPolicy.for_days(45)
    assert parse_service_name("Seguidores Sin Cobertura", extra_keywords=kw).refill == \
        RefillPolicy.none()
    assert parse_service_name("Seguidores Garantía Total", extra_keywords=kw).refill == \
        RefillPolicy.lifetime()
    assert parse_service_name("Seguidores Arranque 2-4 horas", extra_keywords=kw).start == \
        StartWindow(timedelta(hours=2), timedelta(hours=4))
    assert parse_service_name("Seguidores Ya Mismo", extra_keywords=kw).start == \
        StartWindow(timedelta(0), timedelta(0))
    # the built-ins still apply, and without the keywords the new words mean nothing
    assert parse_service_name("Followers R30", extra_keywords=kw).refill == \
        RefillPolicy.for_days(30)
    assert parse_service_name("Seguidores Reemplazo 45 días").refill == RefillPolicy.unknown()


def test_keywords_accept_lists() -> None:
    kw = Keywords(refill=["Reemplazo"])  # type: ignore[arg-type]
    assert kw.refill == ("Reemplazo",)
    assert parse_service_name("Reemplazo 10 días", extra_keywords=kw).refill == \
        RefillPolicy.for_days(10)


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(name: str) -> None:
    parsed = parse_service_name(name)
    assert isinstance(parsed, ParsedRules)
    assert parsed.refill.kind in ("days", "lifetime", "none", "unknown")
    if parsed.refill.kind == "days":
        assert parsed.refill.days is not None and parsed.refill.days > 0
    if parsed.start is not None:
        assert timedelta(0) <= parsed.start.min <= parsed.start.max
    assert isinstance(describe(parsed), str)


_PLATFORM = st.sampled_from(["Instagram Followers", "TikTok Likes", "YouTube Views",
                             "Telegram Members", "Спотифай", "Takipçi", "Pengikut"])
_NUMBER = st.integers(min_value=0, max_value=99999).map(str)
_SPEED_UNIT = st.sampled_from(["Day", "D", "Hour", "H", "Hr", "Min", "Gün", "сутки", "Hari",
                               "Jam", "Saat", "день", "час"])


@st.composite
def speed_or_quantity(draw: st.DrawFn) -> str:
    n, m = draw(_NUMBER), draw(_NUMBER)
    unit = draw(_SPEED_UNIT)
    k = draw(st.sampled_from(["", "K", "k", "M"]))
    return draw(st.sampled_from([
        f"{n}{k}/{unit}", f"Speed: {n}{k}/{unit}", f"[{n}-{m}]", f"Max {n}{k}", f"Min {n}",
        f"{unit} {n}{k}", f"{n}{k} Per {unit}", f"Speed {n}-{m}{k}/{unit}", f"🚀 {n}{k}/{unit}",
        f"⚡ {n}{k}/{unit}", f"[{n}{k}]", f"Quantity {n}-{m}", f"{n}{k}-{m}{k}/{unit}",
    ]))


@settings(max_examples=300, deadline=None)
@given(_PLATFORM, st.lists(speed_or_quantity(), min_size=1, max_size=4),
       st.sampled_from([" ", " | ", " - ", "] [", " "]))
def test_speeds_and_quantities_never_become_a_start(platform: str, parts: list[str],
                                                    sep: str) -> None:
    name = platform + " [" + sep.join(parts) + "]"
    assert parse_service_name(name).start is None, name


@settings(max_examples=200, deadline=None)
@given(_PLATFORM, st.integers(min_value=1, max_value=500),
       st.sampled_from(["Retention", "Stay", "Watch Time", "Minutes Watch Time"]))
def test_retention_and_watch_time_are_neither_start_nor_refill(platform: str, n: int,
                                                               word: str) -> None:
    for name in (f"{platform} [{n} Days {word}]", f"{platform} [{word} {n} Days]",
                 f"{platform} [{n} Minutes {word}]", f"{platform} [{word} 0-{n} Min]"):
        parsed = parse_service_name(name)
        assert parsed.start is None, name
        assert parsed.refill == RefillPolicy.unknown(), name
