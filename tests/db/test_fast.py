"""Statements on the driver connection (db.fast): the same answers as SQLAlchemy's own
execution, inside the same transaction, with the same errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, exc, insert, select, update

from panelpilot.context import Context
from panelpilot.db import fast
from panelpilot.db.inserts import insert_ignoring
from panelpilot.runners.models import RateBucket
from panelpilot.templates.models import Template
from panelpilot.tenancy.models import Workspace
from tests.support import Tenants

_SPACES = (select(Workspace.id, Workspace.slug, Workspace.settings, Workspace.created_at)
           .where(Workspace.id.in_(bindparam("ids", expanding=True)),
                  Workspace.slug != bindparam("not_slug")).order_by(Workspace.id))
_RENAME = (update(Workspace).where(Workspace.id == bindparam("pk"))
           .values(settings=bindparam("settings")))
_TEMPLATE = insert(Template).returning(Template.id, Template.updated_at)


async def test_reads_answer_as_sqlalchemy_does(ctx: Context, tenants: Tenants) -> None:
    both = [tenants.acme_id, tenants.other_id]
    async with ctx.db.connection() as conn:
        await conn.execute(_RENAME, {"pk": tenants.acme_id, "settings": {"a": [1, "ü"]}})
        for ids in ([], [tenants.acme_id], both, [*both, 10**9], both):  # shapes reused
            params = {"ids": ids, "not_slug": "nobody"}
            expected = [tuple(row) for row in await conn.execute(_SPACES, params)]
            got = (await fast.run(conn, _SPACES, params)).all()
            assert got == expected
    assert got[0][2] == {"a": [1, "ü"]}
    # A literal list is an expanding parameter too (an anonymous one).
    literal = select(Workspace.id).where(Workspace.id.in_(both), Workspace.slug.in_(("acme",)))
    async with ctx.db.connection() as conn:
        assert (await fast.run(conn, literal)).scalars() == [tenants.acme_id]
    assert got[0][3].tzinfo is not None


async def test_writes_fill_defaults_and_count_rows(ctx: Context, tenants: Tenants) -> None:
    async with ctx.db.connection() as conn:
        made = await fast.run(conn, _TEMPLATE, {"workspace_id": tenants.acme_id,
                                                "key": "help", "text": "Hi"})
        assert made.rowcount == 1
        pk, updated_at = made.first() or (None, None)
        assert isinstance(updated_at, datetime) and updated_at.tzinfo is not None
        changed = await fast.run(conn, update(Template).where(Template.id == bindparam("pk"))
                                 .values(text=bindparam("t")), {"pk": pk, "t": "Hello"})
        assert changed.rowcount == 1
        assert (await fast.run(conn, _RENAME, {"pk": -1, "settings": {}})).rowcount == 0
        # An INSERT returns only what it names (no implicit RETURNING of the new key).
        plain = await fast.run(conn, insert(Template), {"workspace_id": tenants.acme_id,
                                                        "key": "other", "text": "x"})
        assert (plain.rowcount, plain.all()) == (1, [])
    async with ctx.db.platform_session() as session:
        row = (await session.execute(select(Template).where(Template.key == "help"))).scalar_one()
    assert (row.text, row.updated_at > updated_at) == ("Hello", True)  # onupdate applied


async def test_executemany_with_conflicts_ignored(ctx: Context, tenants: Tenants) -> None:
    rows = [{"workspace_id": tenants.acme_id, "key": key, "text": key,
             "updated_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}
            for key in ("a", "b", "a")]
    async with ctx.db.connection() as conn:
        await fast.run(conn, insert_ignoring(Template, conn.dialect.name), rows)
        assert (await fast.run(conn, insert_ignoring(Template, conn.dialect.name), [])).all() == []
    async with ctx.db.platform_session() as session:
        stored = (await session.execute(select(Template.key, Template.updated_at)
                                        .order_by(Template.key))).all()
    assert stored == [("a", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
                      ("b", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))]


async def test_executemany_returns_the_rows_of_every_set(ctx: Context, tenants: Tenants) -> None:
    rows = [{"workspace_id": tenants.acme_id, "key": key, "text": key} for key in "abca"]
    async with ctx.db.connection() as conn:
        statement = insert_ignoring(Template, conn.dialect.name, Template.key)
        made = await fast.run(conn, statement, rows)
        # The repeated key is ignored and returns nothing; the others come in order.
        assert (made.scalars(), made.rowcount) == (["a", "b", "c"], 3)
        renamed = await fast.run(
            conn, update(Template).where(Template.key == bindparam("k"))
            .values(text=bindparam("t")).returning(Template.key),
            [{"k": "c", "t": "C"}, {"k": "nope", "t": "-"}, {"k": "a", "t": "A"}])
        assert renamed.scalars() == ["c", "a"]
        # Numbers come back as the column's type says (asyncpg's own conversion depends on
        # the type the database reports, which a statement sent this way never asks for).
        tat = await fast.run(conn, insert(RateBucket).returning(RateBucket.tat),
                             [{"key": "a", "tat": 1.5}, {"key": "b", "tat": 2.5}])
        assert tat.scalars() == [1.5, 2.5] and all(type(v) is float for v in tat.scalars())


async def test_part_of_the_transaction(ctx: Context, tenants: Tenants) -> None:
    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with ctx.db.connection() as conn:
            # First in the transaction (on PostgreSQL this one opens it), then seen by
            # SQLAlchemy's own statements, then rolled back with them.
            await fast.run(conn, _TEMPLATE, {"workspace_id": tenants.acme_id, "key": "x",
                                             "text": "x"})
            assert (await conn.execute(select(Template.key))).scalars().all() == ["x"]
            raise Undo
    async with ctx.db.platform_session() as session:
        assert (await session.execute(select(Template))).first() is None


async def test_errors_are_sqlalchemys(ctx: Context, tenants: Tenants) -> None:
    params = {"workspace_id": tenants.acme_id, "key": "dup", "text": "x"}
    with pytest.raises(exc.IntegrityError):
        async with ctx.db.connection() as conn:
            await fast.run(conn, _TEMPLATE, params)
            await fast.run(conn, _TEMPLATE, params)
    # The connection went back healthy: the next transaction works and nothing was kept.
    async with ctx.db.connection() as conn:
        await fast.run(conn, _TEMPLATE, params)
        assert (await fast.run(conn, select(Template.key))).scalars() == ["dup"]


async def test_only_inside_a_transaction(ctx: Context) -> None:
    async with ctx.db.engine.connect() as conn:
        with pytest.raises(RuntimeError):
            await fast.run(conn, select(Workspace.id))


async def test_later_writes_run_together_at_the_end(ctx: Context, tenants: Tenants) -> None:
    rename = update(Template).where(Template.key == bindparam("k")).values(text=bindparam("t"))
    kept = ctx.db.kept()
    async with kept.transaction() as conn:
        for key in ("a", "b"):
            await fast.run(conn, _TEMPLATE, {"workspace_id": tenants.acme_id, "key": key,
                                             "text": "old"})
        await fast.later(conn, rename, {"k": "a", "t": "new a"})
        await fast.later(conn, _RENAME, {"pk": tenants.acme_id, "settings": {"x": 1}})
        await fast.later(conn, rename, {"k": "b", "t": "new b"})
        # Queued, not run yet.
        assert (await fast.run(conn, select(Template.text))).scalars() == ["old", "old"]
    async with kept.transaction() as conn:
        assert sorted((await fast.run(conn, select(Template.text))).scalars()) == [
            "new a", "new b"]
        assert (await fast.run(conn, select(Workspace.settings).where(
            Workspace.id == tenants.acme_id))).scalar() == {"x": 1}
    # A transaction that fails runs none of them.
    with pytest.raises(RuntimeError):
        async with kept.transaction() as conn:
            await fast.later(conn, rename, {"k": "a", "t": "lost"})
            raise RuntimeError
    # Outside a collecting transaction a later write runs at once.
    async with ctx.db.connection() as conn:
        await fast.later(conn, rename, {"k": "b", "t": "at once"})
        assert sorted((await fast.run(conn, select(Template.text))).scalars()) == [
            "at once", "new a"]
    await kept.close()


async def test_executemany_over_lists_of_different_lengths(
        ctx: Context, tenants: Tenants) -> None:
    rename = (update(Workspace).where(Workspace.id.in_(bindparam("ids", expanding=True)))
              .values(plan=bindparam("plan")))
    async with ctx.db.connection() as conn:
        done = await fast.run(conn, rename, [
            {"ids": [tenants.acme_id], "plan": "one"},
            {"ids": [tenants.other_id, 10**9], "plan": "two"}])
        assert done.rowcount == 2
        assert sorted((await fast.run(conn, select(Workspace.plan))).scalars()) == [
            "one", "two"]
