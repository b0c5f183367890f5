"""``workspace apply`` with the order-support sections: providers, linked_users, support_chats,
rules, aliases and templates; idempotent, declarative, exported back, errors by line."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from panelpilot.chats.models import Chat
from panelpilot.context import Context
from panelpilot.orders.models import LinkedChat, ProviderRoute, ServiceOverride, SupportChat
from panelpilot.workspaces.apply import apply_file, export_workspace
from panelpilot.workspaces.yamlfile import FileError
from tests.orders.helpers import JOHN, PROVIDER_GROUP, STRANGER, SUPPORT, Shop, workspace_file

FULL = workspace_file(extra_rules="""\
  max_ids: 10
  strict: true
  refill_window_from: creation
  partial_refill: true
  default_start: 0-24 hours
  keywords: {refill: [garantia], no_refill: [sin garantia]}
  tickets:
    enabled: true
    subjects: [Order, Orders, Sipariş]
    requests: {refill: [Refill, Telafi], speed: [Speed up], cancel: [Cancel]}
  services:
    "101": {start: 0-2 hours, refill: 45}
    "118": {refill: lifetime, note: provider confirmed}
""", aliases="  yenile: refill\n  ускорь: speed\n", templates="  order_sent: \"OK {ids}\"\n")


async def _roles(ctx: Context, workspace_id: int) -> dict[str, str]:
    async with ctx.db.read_session(workspace_id) as s:
        return {c.chat_id: c.role for c in (await s.execute(select(Chat))).scalars()}


async def test_apply_twice_changes_nothing_and_export_round_trips(ctx: Context) -> None:
    first = await apply_file(ctx, FULL)
    assert "provider smmprovider created" in first.changes
    assert f"tg:{JOHN} linked to john_doe" in first.changes
    assert f"support chat tg:{SUPPORT} set (fallback)" in first.changes
    assert "order rules updated" in first.changes and "aliases updated" in first.changes
    assert "service rule 101 set" in first.changes
    assert (await apply_file(ctx, FULL)).changes == []
    text, secrets = await export_workspace(ctx, "acme")
    assert (await apply_file(ctx, text, env=secrets)).changes == []
    for part in ("providers:", "linked_users:", "support_chats:", "rules:", "aliases:",
                 "yenile: refill", "refill_window_from: creation", "start: 0-2 hours",
                 "refill: 45", "refill: lifetime", "fallback: true",
                 "speed: /speed {external_id}"):
        assert part in text, part


async def test_chat_roles_follow_the_file(ctx: Context) -> None:
    result = await apply_file(ctx, FULL)
    ws_id = await _ws(ctx)
    roles = await _roles(ctx, ws_id)
    assert roles[str(PROVIDER_GROUP)] == "provider_group"
    assert roles[str(SUPPORT)] == "support"
    assert roles[str(JOHN)] == "customer" and roles["-100500"] == "customer_group"
    assert result.created
    # removing the support chats section turns the chat back into an unknown one
    await apply_file(ctx, FULL.replace(f'support_chats:\n  - {{channel: tg, chat: "{SUPPORT}", '
                                       'fallback: true}\n', ""))
    assert (await _roles(ctx, ws_id))[str(SUPPORT)] == "unknown"


async def _ws(ctx: Context) -> int:
    from panelpilot.tenancy.service import workspace_by_slug

    async with ctx.db.platform_session() as s:
        ws = await workspace_by_slug(s, "acme")
        assert ws is not None
        return ws.id


async def test_removed_items_are_removed(ctx: Context) -> None:
    await apply_file(ctx, FULL)
    smaller = (FULL.replace(f'  - {{channel: tg, chat: "{JOHN}", username: john_doe}}\n', "")
               .replace('    "118": {refill: lifetime, note: provider confirmed}\n', ""))
    start = smaller.index("  - name: perfectsmm")
    smaller = smaller[:start] + smaller[smaller.index("linked_users:"):]
    changes = (await apply_file(ctx, smaller)).changes
    assert sorted(changes) == sorted(["provider perfectsmm removed", f"tg:{JOHN} unlinked",
                                      "service rule 118 removed"])
    ws_id = await _ws(ctx)
    async with ctx.db.read_session(ws_id) as s:
        assert {r.name for r in (await s.execute(select(ProviderRoute))).scalars()} == {
            "smmprovider", "fastsmm"}
        assert {o.service_id for o in (await s.execute(select(ServiceOverride))).scalars()} == {
            "101"}
    assert (await _roles(ctx, ws_id))[str(JOHN)] == "unknown"


async def test_links_made_in_chat_survive_an_apply(shop: Shop) -> None:
    await shop.say(SUPPORT, f"link {STRANGER} ivan_petrov", user_id=90)
    assert await shop.apply(shop.file()) == []
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        sources = {c: src for c, src in (await s.execute(
            select(Chat.chat_id, LinkedChat.source).join(Chat, Chat.id == LinkedChat.chat_pk)))}
    assert sources[str(STRANGER)] == "support" and sources[str(JOHN)] == "file"


async def test_whatsapp_numbers_are_written_as_people_know_them(ctx: Context) -> None:
    text = FULL.replace("channels:\n", "channels:\n  - key: wa\n    type: greenapi\n"
                        "    id_instance: 1101000001\n    api_token: abc123def456\n")
    text = text.replace("linked_users:\n", "linked_users:\n  - {channel: wa, chat: "
                        "\"+233 248073506\", username: john_doe}\n")
    await apply_file(ctx, text)
    roles = await _roles(ctx, await _ws(ctx))
    assert roles["233248073506@c.us"] == "customer"


@pytest.mark.parametrize(("change", "expected"), [
    (("fastsmm.net", "smmprovider.com"), "'smmprovider.com' is listed by both"),
    (("channel: tg, chat: \"-100700\"}\n  - name: fastsmm",
      "channel: nope, chat: \"-100700\"}\n  - name: fastsmm"),
     "providers.0.group.channel: no channel 'nope'"),
    (("refill_window_from: creation", "refill_window_from: sometime"),
     "rules.refill_window_from"),
    (("default_start: 0-24 hours", "default_start: soonish"), "rules.default_start"),
    (('"101": {start: 0-2 hours, refill: 45}', '"101": {refill: forever-ish}'),
     "rules.services.101.refill"),
    (("yenile: refill", "yenile: explode"), "aliases: alias 'yenile'"),
    (("speed: \"/speed {external_id}\"", "boost: \"/speed {external_id}\""),
     "providers[1].commands"),
    (("max_ids: 10", "max_ids: 1000"), "line 27: rules.max_ids"),
    (("username: john_doe}", "username: john doe}"), "linked_users.0.username"),
])
async def test_errors_name_the_key_and_change_nothing(
    ctx: Context, change: tuple[str, str], expected: str,
) -> None:
    bad = FULL.replace(*change)
    assert bad != FULL
    with pytest.raises(FileError) as info:
        await apply_file(ctx, bad)
    assert expected in str(info.value), str(info.value)
    async with ctx.db.platform_session() as s:
        assert (await s.execute(select(ProviderRoute))).first() is None


async def test_a_chat_can_not_be_both_provider_group_and_customer(ctx: Context) -> None:
    bad = FULL.replace('chat: "555000111", username: john_doe',
                       f'chat: "{PROVIDER_GROUP}", username: john_doe')
    with pytest.raises(FileError) as info:
        await apply_file(ctx, bad)
    assert "provider group chat" in str(info.value)
    async with ctx.db.platform_session() as s:
        assert (await s.execute(select(SupportChat))).first() is None


async def test_a_group_no_route_sends_to_any_more_is_freed(ctx: Context) -> None:
    await apply_file(ctx, FULL)
    ws_id = await _ws(ctx)
    assert (await _roles(ctx, ws_id))[str(PROVIDER_GROUP)] == "provider_group"
    without = FULL[:FULL.index("providers:")] + FULL[FULL.index("linked_users:"):]
    changes = (await apply_file(ctx, without)).changes
    assert "provider smmprovider removed" in changes
    # Left as a provider group it could never be linked or made a support chat again.
    assert (await _roles(ctx, ws_id))[str(PROVIDER_GROUP)] == "unknown"
    assert (await apply_file(ctx, FULL)).changes  # and it can be mapped again
    assert (await _roles(ctx, ws_id))[str(PROVIDER_GROUP)] == "provider_group"
