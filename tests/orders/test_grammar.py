"""Chat messages to commands: every form of the grammar, aliases, typos, ids and properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelpilot.orders.grammar import ParseResult, parse_command


def act(action: str, *ids: str, fixed: str | None = None) -> ParseResult:
    return ParseResult("order_action", action=action, order_ids=list(ids),
                       corrected_from=fixed, suggestion=action if fixed else None)


def unrec(error: str = "unrecognized", *, suggestion: str | None = None,
          action: str | None = None) -> ParseResult:
    return ParseResult("unrecognized", action=action, suggestion=suggestion, error_type=error)


CASES: list[tuple[str, ParseResult]] = [
    # ids and action, either order, one or many
    ("2274209 refill", act("refill", "2274209")),
    ("refill 2274209", act("refill", "2274209")),
    ("2274209 speed", act("speed", "2274209")),
    ("cancel 2274209", act("cancel", "2274209")),
    ("2274209 status", act("status", "2274209")),
    ("2274209, 2274210 speed", act("speed", "2274209", "2274210")),
    ("2274209,2274210 speed", act("speed", "2274209", "2274210")),
    ("2274209 2274210 2274211 refill", act("refill", "2274209", "2274210", "2274211")),
    ("2274209;2274210 cancel", act("cancel", "2274209", "2274210")),
    ("2274209/2274210 refill", act("refill", "2274209", "2274210")),
    ("2274209 and 2274210 refill", act("refill", "2274209", "2274210")),
    ("2274209\n2274210\n2274211\nrefill", act("refill", "2274209", "2274210", "2274211")),
    ("refill\n2274209\n2274210", act("refill", "2274209", "2274210")),
    ("Refill\r\n2274209\r\n\r\n2274210\r\n", act("refill", "2274209", "2274210")),
    ("2274209 refill\n2274210 refill", act("refill", "2274209", "2274210")),
    ("#2274209 refill", act("refill", "2274209")),
    ("#2274209, #2274210 speed", act("speed", "2274209", "2274210")),
    ("order 2274209 refill", act("refill", "2274209")),
    ("Order ID: 2274209 refill", act("refill", "2274209")),
    ("orders 2274209, 2274210 cancel", act("cancel", "2274209", "2274210")),
    ("Refill: 2274209", act("refill", "2274209")),
    ("2274209 - refill", act("refill", "2274209")),
    ("2274209 — refill", act("refill", "2274209")),
    ("(2274209) refill!", act("refill", "2274209")),
    ("2274209 refill?", act("refill", "2274209")),
    ("REFILL 2274209", act("refill", "2274209")),
    ("2274209 ReFiLl", act("refill", "2274209")),
    ("2274209refill", act("refill", "2274209")),
    ("/refill 2274209", act("refill", "2274209")),
    ("/refill@MyPanelBot 2274209", act("refill", "2274209")),
    ("2274209 refill 2274209", act("refill", "2274209")),
    ("2274209, 2274210, 2274209 speed", act("speed", "2274209", "2274210")),
    ("123 refill", act("refill", "123")),
    ("123456789012 refill", act("refill", "123456789012")),
    ("123456 refill", act("refill", "123456")),
    # polite filler
    ("2274209 refill pls", act("refill", "2274209")),
    ("please refill 2274209", act("refill", "2274209")),
    ("Hi bro, 2274209 speed up please", act("speed", "2274209")),
    ("kindly cancel my order 2274209 sir", act("cancel", "2274209")),
    ("2274209 refill plz thanks 🙏", act("refill", "2274209")),
    ("2274209 refill asap", act("refill", "2274209")),
    ("*2274209* _refill_", act("refill", "2274209")),
    ("\u200e2274209 refill\u200f", act("refill", "2274209")),
    ("2274209 ➡️ refill ✅", act("refill", "2274209")),
    ("pls refill these orders: 2274209, 2274210", act("refill", "2274209", "2274210")),
    # built-in aliases, several languages
    ("2274209 refil", act("refill", "2274209", fixed="refil")),
    ("2274209 reffil", act("refill", "2274209", fixed="reffil")),
    ("2274209 rf", act("refill", "2274209")),
    ("2274209 re-fill", act("refill", "2274209")),
    ("2274209 refill please", act("refill", "2274209")),
    ("2274209 telafi", act("refill", "2274209")),
    ("2274209 garanti", act("refill", "2274209")),
    ("2274209 рефилл", act("refill", "2274209")),
    ("2274209 isi ulang", act("refill", "2274209")),
    ("2274209 speedup", act("speed", "2274209")),
    ("2274209 speed up", act("speed", "2274209")),
    ("2274209 speed-up", act("speed", "2274209")),
    ("2274209 fast", act("speed", "2274209")),
    ("2274209 faster", act("speed", "2274209")),
    ("2274209 hızlandır", act("speed", "2274209")),
    ("2274209 HIZLANDIR", act("speed", "2274209")),
    ("2274209 ускорить", act("speed", "2274209")),
    ("2274209 percepat", act("speed", "2274209")),
    ("2274209 cancle", act("cancel", "2274209", fixed="cancle")),
    ("2274209 cancell", act("cancel", "2274209", fixed="cancell")),
    ("2274209 iptal", act("cancel", "2274209")),
    ("2274209 İPTAL", act("cancel", "2274209")),
    ("2274209 iptal et", act("cancel", "2274209")),
    ("2274209 отмена", act("cancel", "2274209")),
    ("2274209 batal", act("cancel", "2274209")),
    ("2274209 cancelar", act("cancel", "2274209")),
    ("2274209 إلغاء", act("cancel", "2274209")),
    ("2274209 check", act("status", "2274209")),
    ("2274209 durum", act("status", "2274209")),
    ("2274209 статус", act("status", "2274209")),
    ("2274209 cek status", act("status", "2274209")),
    # typos understood
    ("2274209 refiil", act("refill", "2274209", fixed="refiil")),
    ("2274209 SPEEED", act("speed", "2274209", fixed="SPEEED")),
    ("2274209 speeed", act("speed", "2274209", fixed="speeed")),
    ("2274209 cansel", act("cancel", "2274209", fixed="cansel")),
    ("2274209 stauts", act("status", "2274209", fixed="stauts")),
    ("2274209 speeed up", act("speed", "2274209", fixed="speeed up")),
    # typos too far or too short: not acted on
    ("2274209 rfeil", unrec("typo", suggestion="refill")),
    ("2274209 cnacle", unrec("typo", suggestion="cancel")),
    ("2274209 refund", unrec()),
    ("2274209 ref", unrec()),
    ("2274209 sp", unrec()),
    ("2274209 r", unrec()),
    ("2274209 last", unrec()),
    # balance, help
    ("balance", ParseResult("balance", action="balance")),
    ("Balance?", ParseResult("balance", action="balance")),
    ("my balance pls", ParseResult("balance", action="balance")),
    ("check balance", ParseResult("balance", action="balance")),
    ("bakiye", ParseResult("balance", action="balance")),
    ("баланс", ParseResult("balance", action="balance")),
    ("balnce", ParseResult("balance", action="balance", corrected_from="balnce",
                           suggestion="balance")),
    ("help", ParseResult("help", action="help")),
    ("commands", ParseResult("help", action="help")),
    ("/help", ParseResult("help", action="help")),
    ("/help@MyPanelBot", ParseResult("help", action="help")),
    ("yardım", ParseResult("help", action="help")),
    ("помощь", ParseResult("help", action="help")),
    ("2274209 help", unrec(action="help")),
    ("balance 2274209", unrec(action="balance")),
    # admin words
    ("link john_doe", ParseResult("link", action="link", args=["john_doe"])),
    ("Link: JohnDoe", ParseResult("link", action="link", args=["JohnDoe"])),
    ("link +233248073506 john_doe",
     ParseResult("link", action="link", args=["+233248073506", "john_doe"])),
    ("link 120363012345678901@g.us shopkeeper",
     ParseResult("link", action="link", args=["120363012345678901@g.us", "shopkeeper"])),
    ("/link -1001234567890 shop", ParseResult("link", action="link",
                                              args=["-1001234567890", "shop"])),
    ("link", unrec(action="link")),
    ("link a b c", unrec(action="link")),
    ("link https://panel.example.com/user", unrec(action="link")),
    ("unlink +233248073506", ParseResult("unlink", action="unlink", args=["+233248073506"])),
    ("unlink", ParseResult("unlink", action="unlink")),
    ("order 2274209", ParseResult("order", action="order", order_ids=["2274209"],
                                  args=["2274209"])),
    ("order #2274209", ParseResult("order", action="order", order_ids=["2274209"],
                                   args=["2274209"])),
    ("2274209 link", unrec(action="link")),
    # one-time codes and bare numbers
    ("123456", ParseResult("code", args=["123456"])),
    ("012345", ParseResult("code", args=["012345"])),
    (" 654321. ", ParseResult("code", args=["654321"])),
    ("code 123456", ParseResult("code", args=["123456"])),
    ("OTP: 123456", ParseResult("code", args=["123456"])),
    ("2274209", unrec("missing_action")),
    ("12345", unrec("missing_action")),
    ("1234567", unrec("missing_action")),
    ("2274209, 2274210", unrec("missing_action")),
    ("code 1234567", unrec()),
    # action without ids
    ("refill", unrec("missing_ids", action="refill")),
    ("speed up please", unrec("missing_ids", action="speed")),
    ("refil", ParseResult("unrecognized", action="refill", corrected_from="refil",
                          suggestion="refill", error_type="missing_ids")),
    # not ids: phone numbers, links, amounts, dates, short and zero-led numbers
    ("+233248073506 refill", unrec()),
    ("+233 24 807 3506 refill", unrec()),
    ("refill https://instagram.com/p/2274209", unrec()),
    ("refill instagram.com/p/Cx2274209", unrec()),
    ("2274209 refill www.example.com", unrec()),
    ("refill 2274209 me@example.com", unrec()),
    ("$50 refill", unrec()),
    ("10.5 refill", unrec()),
    ("2274209-2274210 refill", unrec()),
    ("12/05/2024 refill", unrec(action="refill")),
    ("12 refill", unrec(action="refill")),
    ("0248073506 refill", unrec(action="refill")),
    ("1234567890123 refill", unrec(action="refill")),
    ("２２７４２０９ refill", unrec()),
    ("2274209 ٢ refill", unrec()),
    # mixed, noise, greetings, free text
    ("2274209 refill cancel", unrec()),
    ("2274209 refill\n2274210 cancel", unrec()),
    ("", unrec()),
    ("   \n  ", unrec()),
    ("hi", unrec()),
    ("hello bro", unrec()),
    ("👍", unrec()),
    ("where is my order 2274209", unrec()),
    ("my order 2274209 is not refilled yet, what happened", unrec()),
    ("do not cancel 2274209", unrec()),
    ("2274209 refill and also check my balance", unrec()),
]


def test_the_table_is_big() -> None:
    assert len(CASES) >= 80
    assert len({text for text, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[repr(t)[:50] for t, _ in CASES])
def test_parse(text: str, expected: ParseResult) -> None:
    assert parse_command(text) == expected


# --- caps, workspace aliases ---------------------------------------------------------------------


def test_too_many_ids_gives_the_count_and_nothing_else() -> None:
    text = ", ".join(str(2274200 + i) for i in range(21)) + " refill"
    assert parse_command(text) == ParseResult("too_many", action="refill", count=21)
    assert parse_command(text, max_ids=25).kind == "order_action"


def test_repeated_ids_count_once_for_the_cap() -> None:
    text = " ".join(["2274209"] * 30) + " speed"
    assert parse_command(text) == act("speed", "2274209")


def test_custom_cap() -> None:
    assert parse_command("2274209 2274210 2274211 cancel", max_ids=2) == ParseResult(
        "too_many", action="cancel", count=3)
    assert parse_command("order 2274209 2274210", max_ids=1).kind == "too_many"


@pytest.mark.parametrize(("aliases", "text", "expected"), [
    ({"yenile": "refill"}, "2274209 yenile", act("refill", "2274209")),
    ({"hızlı gönder": "speed"}, "2274209 Hızlı Gönder", act("speed", "2274209")),
    ({"докрутка": "refill"}, "докрутка 2274209", act("refill", "2274209")),
    ({"bantu": "status"}, "2274209 bantu", act("status", "2274209")),
    ({"saldo saya": "balance"}, "saldo saya", ParseResult("balance", action="balance")),
    ({"menü": "commands"}, "menü", ParseResult("help", action="help")),
    ({"bağla": "link"}, "bağla ali", ParseResult("link", action="link", args=["ali"])),
    ({"sipariş": "order"}, "sipariş 2274209", ParseResult("order", action="order",
                                                          order_ids=["2274209"],
                                                          args=["2274209"])),
    # overrides: the workspace decides what a built-in word means
    ({"fast": "refill"}, "2274209 fast", act("refill", "2274209")),
    ({"check": "refill"}, "2274209 check", act("refill", "2274209")),
    ({"pls": "speed"}, "2274209 pls", act("speed", "2274209")),
    # bad targets are ignored, never raised
    ({"zzz": "explode", "": "refill"}, "2274209 refill", act("refill", "2274209")),
    ({"zzz": "explode"}, "2274209 zzz", unrec()),
])
def test_workspace_aliases(aliases: dict[str, str], text: str, expected: ParseResult) -> None:
    assert parse_command(text, aliases=aliases) == expected


def test_workspace_aliases_do_not_leak_between_calls() -> None:
    assert parse_command("2274209 yenile", aliases={"yenile": "refill"}).kind == "order_action"
    assert parse_command("2274209 yenile").kind == "unrecognized"


def test_typos_of_workspace_aliases_are_understood_when_unambiguous() -> None:
    aliases = {"yenileme": "refill"}
    assert parse_command("2274209 yenilme", aliases=aliases) == act("refill", "2274209",
                                                                    fixed="yenilme")


def test_ambiguous_typo_is_not_acted_on_but_suggested() -> None:
    aliases = {"boost": "speed", "boast": "refill"}
    result = parse_command("2274209 boust", aliases=aliases)
    assert result.kind == "unrecognized"
    assert result.error_type == "typo"
    assert result.suggestion in ("speed", "refill")


def test_never_raises_on_odd_inputs() -> None:
    for odd in (None, 123, b"2274209 refill", ["2274209", "refill"]):
        assert parse_command(odd).kind == "unrecognized"  # type: ignore[arg-type]
    assert parse_command("2274209 refill", aliases={1: 2}).kind == "order_action"  # type: ignore[dict-item]
    assert parse_command("x" * 100_000).kind == "unrecognized"


# --- properties ---------------------------------------------------------------------------------


def _ids_are_sound(text: str, result: ParseResult, max_ids: int) -> None:
    assert len(result.order_ids) <= max_ids
    assert len(result.order_ids) == len(set(result.order_ids))
    for order_id in result.order_ids:
        assert order_id in text
        assert re.fullmatch(r"[1-9][0-9]{2,11}", order_id)


@settings(max_examples=500, deadline=None)
@given(st.text(), st.integers(min_value=0, max_value=30))
def test_never_raises_and_ids_appear_in_the_text(text: str, max_ids: int) -> None:
    result = parse_command(text, max_ids=max_ids)
    assert isinstance(result, ParseResult)
    _ids_are_sound(text, result, max_ids)


_PIECES = st.sampled_from([
    "refill", "speed", "cancel", "status", "balance", "help", "pls", "bro", "#", ",", "\n", " - ",
    "order", "link", "+233248073506", "https://x.com/1234567", "refil", "SPEEED", "İPTAL", "🙏",
    "12", "123456", "0248073506", "10.5", "$50", "отмена", "isi ulang",
])
_ID = st.integers(min_value=100, max_value=999_999_999_999).map(str)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(_PIECES, _ID), max_size=30), st.integers(min_value=1, max_value=25))
def test_command_like_messages_keep_ids_sound(parts: list[str], max_ids: int) -> None:
    text = " ".join(parts)
    result = parse_command(text, max_ids=max_ids)
    _ids_are_sound(text, result, max_ids)
    if result.kind == "order_action":
        assert result.action in ("speed", "cancel", "refill", "status")
        assert result.order_ids
    if result.kind == "too_many":
        assert result.count > max_ids


@settings(max_examples=300, deadline=None)
@given(st.lists(_ID, min_size=1, max_size=20, unique=True),
       st.sampled_from(["refill", "speed", "cancel", "status"]),
       st.sampled_from([", ", ",", " ", "\n", "; "]), st.booleans())
def test_any_layout_of_ids_and_action_parses(ids: list[str], action: str, sep: str,
                                             action_first: bool) -> None:
    body = sep.join(ids)
    text = f"{action}\n{body}" if action_first else f"{body}\n{action}"
    assert parse_command(text) == act(action, *ids)
