"""Customer commands through the real spine over the panel simulator: every check, every
customer template, bulk answers and grouping, silence, aliases and customer groups."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from panelpilot.orders.models import CommandLog, CommandOrder, Dispatch, PanelCall
from panelpilot.sim.smm_data import now_utc
from tests.orders.helpers import (
    CUSTOMER_GROUP,
    JANE,
    JOHN,
    PROVIDER_GROUP,
    STRANGER,
    SUPPORT,
    Shop,
)


async def _commands(shop: Shop) -> list[CommandLog]:
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        return list((await s.execute(select(CommandLog).order_by(CommandLog.id))).scalars())


async def _items(shop: Shop, command_id: int) -> list[CommandOrder]:
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        return list((await s.execute(select(CommandOrder).where(
            CommandOrder.command_id == command_id).order_by(CommandOrder.id))).scalars())


# --- success and dispatch -----------------------------------------------------------------------


async def test_refill_is_checked_dispatched_and_logged(shop: Shop) -> None:
    said = await shop.say(JOHN, "2274209 refill")
    assert said.replies == ["✅ 2274209: refill request sent."]
    assert said.to(PROVIDER_GROUP) == ["EXT-99812 refill"]
    command = (await _commands(shop))[-1]
    assert (command.source, command.username, command.action, command.outcome) == (
        "chat", "john_doe", "refill", "sent")
    assert command.reply == said.replies[0] and command.latency_ms >= 0
    [item] = await _items(shop, command.id)
    assert (item.order_id, item.verdict, item.external_id, item.provider) == (
        "2274209", "sent", "EXT-99812", "smmprovider.com")
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        dispatch = (await s.execute(select(Dispatch))).scalar_one()
        calls = list((await s.execute(select(PanelCall))).scalars())
    assert (dispatch.route_name, dispatch.text, dispatch.chat_id) == (
        "smmprovider", "EXT-99812 refill", str(PROVIDER_GROUP))
    assert item.dispatch_id == dispatch.id and dispatch.message_id is not None
    assert [(c.operation, c.ok, c.command_id) for c in calls] == [
        ("get_orders", True, command.id)]


async def test_ids_and_action_in_any_order_and_route_command_templates(shop: Shop) -> None:
    said = await shop.say(JOHN, "speed 2274210")
    assert said.replies == ["✅ 2274210: speed request sent."]
    assert said.to(PROVIDER_GROUP) == ["EXT-99813 speed"]
    # fastsmm.net has its own wording per action
    said = await shop.say(JOHN, "cancel 2274212")
    assert said.to(PROVIDER_GROUP) == ["88120455 cancel"]
    shop.panel.add_order(2274301, user="john_doe", service_id=109, status="in_progress",
                         remains=500, external_id="88120999", provider="fastsmm.net",
                         created=now_utc() - timedelta(hours=3))
    said = await shop.say(JOHN, "2274301 speed")
    assert said.to(PROVIDER_GROUP) == ["/speed 88120999"]


async def test_bulk_orders_of_one_provider_go_as_one_message(shop: Shop) -> None:
    said = await shop.say(JANE, "5163781, 5163782 refill")
    assert said.replies == ["✅ 5163781, 5163782: refill request sent."]
    assert said.to(PROVIDER_GROUP) == ["5163781, 5163782 refill please"]
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        dispatch = (await s.execute(select(Dispatch))).scalar_one()
    assert dispatch.order_ids == ",5163781,5163782," and dispatch.route_name == "fastsmm"


async def test_bulk_answer_is_one_compact_message_with_a_verdict_per_order(shop: Shop) -> None:
    shop.panel.add_order(2274302, user="john_doe", service_id=101, status="completed",
                         external_id="EXT-99900", provider="smmprovider.com",
                         created=now_utc() - timedelta(days=3))
    said = await shop.say(
        JOHN, "2274209\n2274214\n2274215, 9999999 2274216 2274302 refill")
    assert said.replies == ["\n".join([
        "✅ 2274209, 2274302: refill request sent.",
        "❌ 2274214: refill is not possible, the order is canceled.",
        "❌ 2274215: refill is not possible, this service has no refill.",
        "❌ 9999999: order not found.",
        "❌ 2274216: this order is not on your account.",
    ])]
    # both go to smmprovider in one message
    assert said.to(PROVIDER_GROUP) == ["EXT-99812, EXT-99900 refill"]
    command = (await _commands(shop))[-1]
    assert command.outcome == "mixed" and command.order_count == 6
    verdicts = {i.order_id: i.verdict for i in await _items(shop, command.id)}
    assert verdicts == {"2274209": "sent", "2274302": "sent", "2274214": "not_eligible",
                        "2274215": "not_eligible", "9999999": "not_found",
                        "2274216": "not_yours"}


async def test_bulk_lookups_are_batched_into_one_panel_call(shop: Shop) -> None:
    shop.panel.faults.calls.clear()
    await shop.say(JOHN, "2274209 2274210 2274211 2274212 2274213 status")
    order_calls = shop.panel.calls_to("/adminapi/v2/orders")
    assert len(order_calls) == 1 and order_calls[0].params["ids"].count(",") == 4


async def test_panel_ignoring_the_ids_filter_falls_back_to_one_call_per_order(shop: Shop) -> None:
    from panelpilot.panels import perfectpanel

    shop.panel.ids_filter = False
    perfectpanel._ids_filter_works.pop(shop.panel_url.rstrip("/"), None)
    said = await shop.say(JOHN, "2274209, 2274215 status")
    assert said.text.startswith("📦 2274209: completed.")
    paths = [c.path for c in shop.panel.calls_to("/adminapi/v2/orders")]
    assert "/adminapi/v2/orders/2274209" in paths and "/adminapi/v2/orders/2274215" in paths


# --- not found, not yours, not eligible ---------------------------------------------------------


async def test_not_found_and_not_yours(shop: Shop) -> None:
    assert (await shop.say(JOHN, "9999999 refill")).replies == ["❌ 9999999: order not found."]
    said = await shop.say(JOHN, "2274218 refill")  # jane's
    assert said.replies == ["❌ 2274218: this order is not on your account."]
    assert said.outgoing == []
    [*_, command] = await _commands(shop)
    [item] = await _items(shop, command.id)
    assert "jane_smith" in item.detail  # admins see whose it is; the customer does not
    assert "jane" not in said.replies[0]


@pytest.mark.parametrize(("text", "reply"), [
    ("2274210 refill", "❌ 2274210: refill is not possible, the order is not completed yet."),
    ("2274214 refill", "❌ 2274214: refill is not possible, the order is canceled."),
    ("2274215 refill", "❌ 2274215: refill is not possible, this service has no refill."),
    ("2274213 refill", "❌ 2274213: refill is not possible, the order is partial."),
    ("2274209 speed", "❌ 2274209: speed is not possible, the order is completed."),
    ("2274209 cancel", "❌ 2274209: cancel is not possible, the order is completed."),
    ("2274214 cancel", "❌ 2274214: cancel is not possible, the order is canceled."),
    ("2274213 cancel", "❌ 2274213: cancel is not possible, the order is partial."),
])
async def test_status_rules(shop: Shop, text: str, reply: str) -> None:
    said = await shop.say(JOHN, text)
    assert said.replies == [reply] and said.outgoing == []


async def test_speed_needs_remains(shop: Shop) -> None:
    shop.panel.add_order(2274303, user="john_doe", service_id=103, status="in_progress",
                         remains=0, external_id="EXT-1", provider="smmprovider.com",
                         created=now_utc() - timedelta(hours=5))
    said = await shop.say(JOHN, "2274303 speed")
    assert said.replies == ["❌ 2274303: speed is not possible, nothing remains to deliver."]


async def test_speed_before_the_start_window_says_when(shop: Shop) -> None:
    # 2274211: pending for 20 minutes, service "⏱ 0-12 Hrs"
    said = await shop.say(JOHN, "2274211 speed")
    [reply] = said.replies
    assert reply.startswith("⏳ 2274211: the start time has not passed yet. You can ask for a "
                            "speed-up in 11 h ")
    assert said.outgoing == []
    [*_, command] = await _commands(shop)
    assert command.outcome == "too_early"


async def test_unknown_start_window_is_not_eligible_until_a_rule_says(shop: Shop) -> None:
    shop.panel.add_order(2274304, user="john_doe", service_id=110, status="in_progress",
                         remains=300, external_id="EXT-2", provider="smmprovider.com",
                         created=now_utc() - timedelta(hours=30))
    said = await shop.say(JOHN, "2274304 speed")
    assert said.replies == ["❌ 2274304: speed is not possible, the start time of this service "
                            "is not known; our team will check."]
    [*_, command] = await _commands(shop)
    [item] = await _items(shop, command.id)
    assert "add a service rule" in item.detail
    # the admin fixes it with a service rule
    await shop.apply(shop.file(extra_rules='  services:\n    "110": {start: "0-24 hours"}\n'))
    said = await shop.say(JOHN, "2274304 speed")
    assert said.replies == ["✅ 2274304: speed request sent."]


async def test_default_start_window_for_services_that_state_none(shop: Shop) -> None:
    shop.panel.add_order(2274305, user="john_doe", service_id=110, status="pending",
                         external_id="EXT-3", provider="smmprovider.com",
                         created=now_utc() - timedelta(hours=2))
    await shop.apply(shop.file(extra_rules="  default_start: 0-6 hours\n"))
    said = await shop.say(JOHN, "2274305 speed")
    assert said.replies[0].startswith("⏳ 2274305: the start time has not passed yet. You can "
                                      "ask for a speed-up in 4 h")


async def test_refill_policy_unknown_is_not_eligible_with_an_admin_fixable_reason(
    shop: Shop,
) -> None:
    shop.panel.add_service(130, "Instagram Followers HQ", category="Instagram")
    shop.panel.add_order(2274306, user="john_doe", service_id=130, status="completed",
                         external_id="EXT-4", provider="smmprovider.com",
                         created=now_utc() - timedelta(days=2))
    said = await shop.say(JOHN, "2274306 refill")
    assert said.replies == ["❌ 2274306: refill is not possible, the refill terms of this "
                            "service are not known; our team will check."]
    [*_, command] = await _commands(shop)
    [item] = await _items(shop, command.id)
    assert "refill policy of service #130 'Instagram Followers HQ' is unknown" in item.detail
    # a workspace keyword makes the name readable ("HQ" means nothing; "Garantia" does)
    shop.panel.store.services["130"].name = "Instagram Followers HQ [Garantia 30 dias]"
    await shop.apply(shop.file(extra_rules="  keywords: {refill: [garantia]}\n"))
    assert (await shop.say(JOHN, "2274306 refill")).replies == [
        "✅ 2274306: refill request sent."]


async def test_refill_window_expired_and_lifetime(shop: Shop) -> None:
    old = now_utc() - timedelta(days=40)
    shop.panel.add_order(2274307, user="john_doe", service_id=101, status="completed",
                         external_id="EXT-5", provider="smmprovider.com", created=old,
                         last_update=old + timedelta(hours=5))
    said = await shop.say(JOHN, "2274307 refill")
    ended = (old + timedelta(hours=5) + timedelta(days=30)).strftime("%Y-%m-%d")
    assert said.replies == [f"❌ 2274307: refill is not possible, the 30-day refill period "
                            f"ended on {ended}."]
    # lifetime refill is always open (service 107, an order of 200 days)
    shop.panel.add_order(2274308, user="john_doe", service_id=107, status="completed",
                         external_id="EXT-6", provider="smmprovider.com",
                         created=now_utc() - timedelta(days=400))
    assert (await shop.say(JOHN, "2274308 refill")).replies == [
        "✅ 2274308: refill request sent."]


async def test_refill_window_from_creation_or_completion(shop: Shop) -> None:
    created = now_utc() - timedelta(days=35)
    shop.panel.add_order(2274309, user="john_doe", service_id=101, status="completed",
                         external_id="EXT-7", provider="smmprovider.com", created=created,
                         last_update=now_utc() - timedelta(days=10))
    # default: from completion (10 days ago) → open
    assert (await shop.say(JOHN, "2274309 refill")).replies == [
        "✅ 2274309: refill request sent."]
    shop.panel.add_order(2274310, user="john_doe", service_id=101, status="completed",
                         external_id="EXT-8", provider="smmprovider.com", created=created,
                         last_update=now_utc() - timedelta(days=10))
    await shop.apply(shop.file(extra_rules="  refill_window_from: creation\n"))
    said = await shop.say(JOHN, "2274310 refill")
    assert "the 30-day refill period ended on" in said.text


async def test_partial_orders_may_be_refilled_when_the_workspace_says_so(shop: Shop) -> None:
    assert "the order is partial" in (await shop.say(JOHN, "2274213 refill")).text
    await shop.apply(shop.file(extra_rules="  partial_refill: true\n"))
    said = await shop.say(JOHN, "2274213 refill")
    assert said.replies == ["✅ 2274213: refill request sent."]
    assert said.to(PROVIDER_GROUP) == ["EXT-99815 refill"]


async def test_service_rule_override_wins_over_the_name(shop: Shop) -> None:
    # service 102 says "No Refill"; the admin knows better
    await shop.apply(shop.file(extra_rules='  services:\n    "102": {refill: 7}\n'))
    assert (await shop.say(JOHN, "2274215 refill")).replies == [
        "✅ 2274215: refill request sent."]


# --- provider missing, route missing, fallback --------------------------------------------------


async def test_missing_external_id_is_provider_missing(shop: Shop) -> None:
    said = await shop.say(JOHN, "2274219 refill")  # service 116 says no refill
    assert "no refill" in said.text
    shop.panel.add_order(2274311, user="john_doe", service_id=101, status="completed",
                         external_id=None, provider=None, created=now_utc() - timedelta(days=1))
    said = await shop.say(JOHN, "2274311 refill")
    assert said.replies == ["⚠️ 2274311: this order can not be passed on automatically. Our "
                            "support team will look at it."]
    assert said.outgoing == []


async def test_hidden_external_id_says_what_the_admin_must_change(shop: Shop) -> None:
    shop.panel.hide_external_id = True
    said = await shop.say(JOHN, "2274209 refill")
    assert said.replies[0].startswith("⚠️ 2274209: this order can not be passed on")
    [*_, command] = await _commands(shop)
    [item] = await _items(shop, command.id)
    assert "permission" in item.detail and item.verdict == "provider_missing"


async def test_unrouted_provider_goes_to_the_fallback_group(shop: Shop) -> None:
    # ali's 2274216: provider "Perfect Smm" has a route without a group
    await shop.apply(_with_ali(shop))
    said = await shop.say(555000333, "2274216 refill")
    assert said.replies == ["✅ 2274216: refill request sent."]
    assert said.to(SUPPORT) == ["No route for provider Perfect Smm: 451278 refill (panel "
                                "order 2274216)"]
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        dispatch = (await s.execute(select(Dispatch))).scalar_one()
    assert dispatch.fallback and dispatch.route_name == ""


def _with_ali(shop: Shop, support: bool = True) -> str:
    text = shop.file(support=support)
    return text.replace("rules:\n", '  - {channel: tg, chat: "555000333", username: ali_yilmaz}\n'
                        '  - {channel: tg, chat: "555000444", username: ivan_petrov}\nrules:\n')


async def test_without_a_fallback_group_route_missing_is_answered(shop: Shop) -> None:
    await shop.apply(_with_ali(shop, support=False))
    said = await shop.say(555000333, "2274216 refill")  # route without a group
    assert said.replies == ["⚠️ 2274216: we could not pass this request on right now. Our "
                            "support team will look at it."]
    said = await shop.say(555000444, "2274220 cancel")  # smmlite.ru: no route at all
    assert said.replies[0].startswith("⚠️ 2274220: we could not pass this request on")
    assert said.outgoing == []
    [*_, command] = await _commands(shop)
    [item] = await _items(shop, command.id)
    assert item.verdict == "route_missing" and "smmlite.ru" in item.detail


# --- cooldowns ----------------------------------------------------------------------------------


async def test_cooldown_per_order_and_action(shop: Shop) -> None:
    assert (await shop.say(JOHN, "2274210 speed")).to(PROVIDER_GROUP) == ["EXT-99813 speed"]
    said = await shop.say(JOHN, "2274210 speed")
    assert said.replies == ["⏳ 2274210: speed was already requested. You can ask again in "
                            "1 h."]
    assert said.outgoing == []
    # another action of the same order has its own cooldown
    assert (await shop.say(JOHN, "2274210 cancel")).to(PROVIDER_GROUP) == ["EXT-99813 cancel"]
    # and a bulk command still dispatches the orders that are not cooling down
    said = await shop.say(JOHN, "2274210 2274212 speed")
    assert said.replies == ["⏳ 2274210: speed was already requested. You can ask again in "
                            "1 h.\n✅ 2274212: speed request sent."]
    assert said.to(PROVIDER_GROUP) == ["/speed 88120455"]


async def test_cooldown_minutes_are_configurable_and_zero_turns_them_off(shop: Shop) -> None:
    await shop.apply(shop.file().replace("cooldown_minutes: {speed: 60, cancel: 60, "
                                         "refill: 1440}", "cooldown_minutes: {refill: 0}"))
    for _ in range(2):
        assert (await shop.say(JOHN, "2274209 refill")).to(PROVIDER_GROUP) == [
            "EXT-99812 refill"]


# --- panel problems -----------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["fail", "html", "malformed", "timeout"])
async def test_panel_problems_get_the_api_problem_answer_and_a_logged_error(
    shop: Shop, fault: str,
) -> None:
    if fault == "fail":
        shop.panel.fail_next(502)
    elif fault == "html":
        shop.panel.html_next()
    elif fault == "malformed":
        shop.panel.malformed_next()
    else:
        shop.ctx.settings.http_timeout = 0.3
        shop.panel.timeout_next(seconds=3)
    said = await shop.say(JOHN, "2274209 refill")
    assert said.replies == ["We could not check your order right now. Please try again in a "
                            "few minutes."]
    assert said.outgoing == []
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        call = (await s.execute(select(PanelCall))).scalar_one()
    assert not call.ok and call.reason in ("server_error", "html_page", "malformed", "timeout")
    assert shop.panel.admin_key not in call.error
    [*_, command] = await _commands(shop)
    assert command.outcome == "api_problem" and command.detail
    # the next request works and is not held by any cooldown
    assert (await shop.say(JOHN, "2274209 refill")).replies == [
        "✅ 2274209: refill request sent."]


async def test_no_panel_connection_is_an_api_problem(shop: Shop) -> None:
    from panelpilot.panels.service import delete_connection

    async with shop.ctx.db.session(shop.workspace_id) as s:
        await delete_connection(s)
    said = await shop.say(JOHN, "2274209 refill")
    assert said.replies == ["We could not check your order right now. Please try again in a "
                            "few minutes."]


# --- other commands -----------------------------------------------------------------------------


async def test_too_many_ids(shop: Shop) -> None:
    await shop.apply(shop.file(extra_rules="  max_ids: 3\n"))
    said = await shop.say(JOHN, "2274209 2274210 2274211 2274212 refill")
    assert said.replies == ["Please send at most 3 order IDs in one message (you sent 4)."]
    assert shop.panel.calls_to("/adminapi/v2/orders") == []


async def test_default_id_cap_is_20(shop: Shop) -> None:
    ids = " ".join(str(3000000 + n) for n in range(21))
    assert (await shop.say(JOHN, f"{ids} status")).replies == [
        "Please send at most 20 order IDs in one message (you sent 21)."]


async def test_status_and_balance(shop: Shop) -> None:
    said = await shop.say(JOHN, "2274210 status")
    assert said.replies == ["📦 2274210: in progress. Quantity 10000, start count 230, "
                            "remains 6400."]
    said = await shop.say(JOHN, "2274210, 2274218 status")
    assert said.replies == ["📦 2274210: in progress. Quantity 10000, start count 230, "
                            "remains 6400.\n❌ 2274218: this order is not on your account."]
    assert (await shop.say(JOHN, "balance")).replies == ["💰 Balance of john_doe: 125.50 USD."]
    assert (await shop.say(JANE, "bakiye")).replies == ["💰 Balance of jane_smith: 48.20 USD."]


async def test_help_comes_from_the_orders_help_template(shop: Shop) -> None:
    for chat in (JOHN, STRANGER):
        said = await shop.say(chat, "help")
        assert said.replies[0].startswith("Send your order ID and what you need")
        assert "link <your panel username>" in said.replies[0]
    await shop.apply(shop.file(templates='  help: "Our commands: ID refill"\n'))
    assert (await shop.say(JOHN, "commands")).replies == ["Our commands: ID refill"]


async def test_unlinked_chats_are_told_how_to_link(shop: Shop) -> None:
    said = await shop.say(STRANGER, "2274209 refill")
    assert said.replies == ["This chat is not linked to a panel account yet. Send: link <your "
                            "panel username>"]
    assert shop.panel.calls_to("/adminapi/v2/orders") == []


async def test_customer_templates_are_the_workspace_s_own(shop: Shop) -> None:
    await shop.apply(shop.file(templates="  order_sent: \"Tamam: {ids} ({action})\"\n"
                                         "  reason_status: \"sipariş {status}\"\n"))
    said = await shop.say(JOHN, "2274209 2274214 refill")
    assert said.replies == ["Tamam: 2274209 (refill)\n❌ 2274214: refill is not possible, "
                            "sipariş canceled."]


# --- silence, typos, aliases, groups ------------------------------------------------------------


async def test_strict_silence_for_unrecognized_text_which_is_logged(shop: Shop) -> None:
    for chat, text in ((STRANGER, "hello there"), (JOHN, "where is my order??"),
                       (JOHN, "2274209"), (JOHN, "stat 2274209")):
        assert (await shop.say(chat, text)).replies == [], text
    failed = [c for c in await _commands(shop) if c.kind == "unrecognized"]
    assert [(c.text, c.error_type) for c in failed] == [
        ("hello there", "unrecognized"), ("where is my order??", "unrecognized"),
        ("2274209", "missing_action"), ("stat 2274209", "typo")]
    assert failed[-1].suggestion == "status" and failed[1].username == "john_doe"


async def test_typos_close_to_a_command_are_understood_and_logged(shop: Shop) -> None:
    assert (await shop.say(JOHN, "2274209 refil")).replies == [
        "✅ 2274209: refill request sent."]
    assert (await shop.say(JOHN, "2274210 SPEEED")).replies == [
        "✅ 2274210: speed request sent."]
    commands = await _commands(shop)
    assert [(c.corrected_from, c.suggestion) for c in commands] == [
        ("refil", "refill"), ("SPEEED", "speed")]


async def test_without_strict_mode_unrecognized_text_gets_a_short_answer(shop: Shop) -> None:
    await shop.apply(shop.file(extra_rules="  strict: false\n"))
    assert (await shop.say(JOHN, "hello there")).replies == [
        "Sorry, I did not understand that. Send help to see the commands."]
    assert (await shop.say(JOHN, "2274209 stat")).replies == [
        "Did you mean status? For example: 2274209 status"]


async def test_workspace_aliases_in_any_language(shop: Shop) -> None:
    await shop.apply(shop.file(aliases="  yenile: refill\n  hızlı: speed\n  iptal et: cancel\n"))
    assert (await shop.say(JOHN, "2274209 yenile")).replies == [
        "✅ 2274209: refill request sent."]
    assert (await shop.say(JOHN, "hızlı 2274210")).replies == ["✅ 2274210: speed request sent."]


async def test_customer_group_answers_quote_the_message(shop: Shop) -> None:
    before = await shop.last_outbox_id()
    said = await shop.say(CUSTOMER_GROUP, "5163781 refill", user_id=4242)
    assert said.replies == ["✅ 5163781: refill request sent."]
    [answer] = [m for m in await shop.outbox_after(before) if m.chat_id == str(CUSTOMER_GROUP)]
    assert answer.reply_to is not None
    # addressing the bot by name works too
    said = await shop.say(CUSTOMER_GROUP, "@pilot_bot 5163782 refill", user_id=4242)
    assert said.replies == ["✅ 5163782: refill request sent."]
    # people chatting in the group: silence, and no failed-command noise
    assert (await shop.say(CUSTOMER_GROUP, "thanks guys, see you tomorrow")).replies == []
    assert not [c for c in await _commands(shop) if c.kind == "unrecognized"]


async def test_groups_that_are_not_customer_groups_get_silence(shop: Shop) -> None:
    for text in ("2274209 refill", "help", "balance"):
        assert (await shop.say(-100123, text)).replies == []
    assert await _commands(shop) == []


async def test_provider_groups_are_never_answered(shop: Shop) -> None:
    for text in ("EXT-99812 refill done", "2274209 refill", "help", "/help", "balance"):
        said = await shop.say(PROVIDER_GROUP, text, user_id=31337)
        assert said.replies == [] and said.outgoing == []
    assert await _commands(shop) == []


async def test_customers_may_unlink_their_own_chat(shop: Shop) -> None:
    assert (await shop.say(JOHN, "unlink")).replies == [
        "This chat is no longer linked to john_doe."]
    assert (await shop.say(JOHN, "2274209 refill")).replies[0].startswith(
        "This chat is not linked")
