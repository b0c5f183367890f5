"""Templates and order rules are kept in memory between messages (``conversation.config``),
yet every change shows from the next message on, whichever way it was made: database
triggers move the workspace's ``config_version`` (migration 0005)."""

from __future__ import annotations

from sqlalchemy import insert, select, text, update

from panelpilot.db.base import utcnow
from panelpilot.orders.models import OrderSettings
from panelpilot.templates.models import Template
from panelpilot.tenancy.models import Workspace
from tests.orders.helpers import JOHN, STRANGER, Shop


async def _version(shop: Shop, slug: str = "acme") -> int:
    async with shop.ctx.db.platform_session() as s:
        return int((await s.execute(select(Workspace.config_version)
                                    .where(Workspace.slug == slug))).scalar_one())


async def test_a_template_changed_by_hand_in_sql_shows_on_the_next_message(shop: Shop) -> None:
    assert (await shop.say(STRANGER, "help")).replies[0].startswith("Send your order ID")
    before = await _version(shop)
    async with shop.ctx.db.connection() as conn:  # plain SQL, past every service function
        await conn.execute(insert(Template).values(workspace_id=shop.workspace_id, key="help",
                                                   text="Hand-made help", updated_at=utcnow()))
    assert await _version(shop) == before + 1
    assert (await shop.say(STRANGER, "help")).replies == ["Hand-made help"]
    async with shop.ctx.db.platform_session() as s:
        await s.execute(text("UPDATE templates SET text = 'Edited help' WHERE key = 'help'"))
    assert (await shop.say(STRANGER, "help")).replies == ["Edited help"]
    async with shop.ctx.db.platform_session() as s:
        await s.execute(text("DELETE FROM templates WHERE key = 'help'"))
    assert (await shop.say(STRANGER, "help")).replies[0].startswith("Send your order ID")
    assert await _version(shop) == before + 3


async def test_order_rules_move_the_version_and_runner_progress_does_not(shop: Shop) -> None:
    assert (await shop.say(JOHN, "2274209 zapravka")).replies == []  # no such alias yet
    before = await _version(shop)
    async with shop.ctx.db.platform_session() as s:
        # The ticket runner writes its progress often: no reason to read the rules again.
        await s.execute(update(OrderSettings).where(
            OrderSettings.workspace_id == shop.workspace_id).values(ticket_cursor="42"))
    assert await _version(shop) == before
    await shop.apply(shop.file(aliases="  zapravka: refill\n"))
    assert await _version(shop) > before
    assert (await shop.say(JOHN, "2274209 zapravka")).replies == [
        "✅ 2274209: refill request sent."]


async def test_a_change_moves_only_its_own_workspace(shop: Shop) -> None:
    from panelpilot.tenancy.service import create_workspace

    async with shop.ctx.db.platform_session() as s:
        other = await create_workspace(s, slug="other", name="Other")
    other_before = await _version(shop, "other")
    await shop.apply(shop.file(templates='  help: "Acme help"\n'))
    assert await _version(shop, "other") == other_before
    assert other.id != shop.workspace_id
