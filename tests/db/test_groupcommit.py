"""Group commit and group read: concurrent callers share transactions, yet each write keeps
its workspace scope and its own fate, and each lookup gets its own answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.context import Context
from panelpilot.db import fast
from panelpilot.db.engine import LazySession
from panelpilot.db.groupcommit import GroupCommit, GroupRead
from panelpilot.db.scoping import UnscopedQueryError
from panelpilot.templates.models import Template
from panelpilot.tenancy.models import Workspace
from tests.support import Tenants


async def test_writes_share_a_transaction_and_keep_their_workspace_scope(
        ctx: Context, tenants: Tenants) -> None:
    group = GroupCommit(ctx.db)
    seen: dict[int, list[str]] = {}

    def writer(workspace_id: int, key: str) -> Any:
        async def write(session: AsyncSession) -> None:
            session.add(Template(workspace_id=workspace_id, key=key, text=f"{key} text"))
            await session.flush()
            # An unfiltered query sees only the write's own workspace.
            seen[workspace_id] = list((await session.execute(select(Template.key))).scalars())
        return write

    await asyncio.gather(group.run(writer(tenants.acme_id, "help"), tenants.acme_id),
                         group.run(writer(tenants.other_id, "api_problem"), tenants.other_id))
    assert seen == {tenants.acme_id: ["help"], tenants.other_id: ["api_problem"]}
    async with ctx.db.platform_session() as s:
        rows = (await s.execute(select(Template.workspace_id, Template.key))).all()
    assert sorted(rows) == sorted([(tenants.acme_id, "help"), (tenants.other_id, "api_problem")])


async def test_a_step_runs_once_for_the_batch_ahead_of_its_writes(
        ctx: Context, tenants: Tenants) -> None:
    group = GroupCommit(ctx.db)
    calls: list[list[str]] = []
    order: list[str] = []

    async def step(session: AsyncSession, items: list[dict[str, Any]]) -> None:
        calls.append([item["key"] for item in items])
        order.append("step")
        for item in items:
            item["seen"] = True

    def writer(item: dict[str, Any], fail: bool = False) -> Any:
        async def write(session: AsyncSession) -> None:
            assert item.get("seen")  # the step has run for this write's item
            order.append(item["key"])
            if fail:
                raise ValueError("bad write")
            session.add(Template(workspace_id=tenants.acme_id, key=item["key"], text="x"))
        return write

    items = [{"key": "a"}, {"key": "b"}]
    await asyncio.gather(*(group.run(writer(i), tenants.acme_id, ahead=(step, i))
                           for i in items))
    assert calls == [["a", "b"]] and order == ["step", "a", "b"]
    # A batch that fails is retried write by write, each with the step again for its item.
    calls.clear()
    bad, good = {"key": "bad"}, {"key": "good"}
    results = await asyncio.gather(group.run(writer(bad, fail=True), tenants.acme_id,
                                             ahead=(step, bad)),
                                   group.run(writer(good), tenants.acme_id, ahead=(step, good)),
                                   return_exceptions=True)
    assert isinstance(results[0], ValueError) and results[1] is None
    assert calls == [["bad", "good"], ["bad"], ["good"]]
    async with ctx.db.platform_session() as s:
        keys = sorted((await s.execute(select(Template.key))).scalars())
    assert keys == ["a", "b", "good"]


async def test_a_bad_write_fails_alone(ctx: Context, tenants: Tenants) -> None:
    group = GroupCommit(ctx.db)

    async def good(session: AsyncSession) -> None:
        session.add(Template(workspace_id=tenants.acme_id, key="help", text="fine"))

    async def other_workspace(session: AsyncSession) -> None:
        # Scoped to acme, writing a row of another workspace: refused.
        session.add(Template(workspace_id=tenants.other_id, key="help", text="leak"))

    results = await asyncio.gather(group.run(good, tenants.acme_id),
                                   group.run(other_workspace, tenants.acme_id),
                                   return_exceptions=True)
    assert results[0] is None and isinstance(results[1], UnscopedQueryError)
    async with ctx.db.platform_session() as s:
        rows = (await s.execute(select(Template.workspace_id, Template.text))).all()
    assert rows == [(tenants.acme_id, "fine")]



async def test_core_writes_need_no_orm_session_and_share_with_orm_ones(
        ctx: Context, tenants: Tenants) -> None:
    group = GroupCommit(ctx.db)
    made: list[bool] = []

    async def core(session: AsyncSession) -> None:
        conn = await session.connection()
        await fast.run(conn, insert(Template), {"workspace_id": tenants.acme_id, "key": "a",
                                                "text": "core"})
        made.append(isinstance(session, LazySession) and session._session is None)

    async def orm(session: AsyncSession) -> None:
        session.add(Template(workspace_id=tenants.acme_id, key="b", text="orm"))

    await asyncio.gather(group.run(core, tenants.acme_id), group.run(orm, tenants.acme_id))
    assert made == [True]  # the Core write went first: no session had been made for it
    async with ctx.db.platform_session() as s:
        rows = (await s.execute(select(Template.key, Template.text)
                                .order_by(Template.key))).all()
    assert rows == [("a", "core"), ("b", "orm")]

async def test_concurrent_lookups_are_one_query_each_answered(
        ctx: Context, tenants: Tenants) -> None:
    calls: list[list[int]] = []

    async def fetch(conn: Any, keys: list[int]) -> dict[int, str]:
        calls.append(sorted(keys))
        rows = await conn.execute(select(Workspace.id, Workspace.slug)
                                  .where(Workspace.id.in_(keys)))
        return {ws_id: slug for ws_id, slug in rows}

    reader: GroupRead[int, str] = GroupRead(ctx.db, fetch)
    answers = await asyncio.gather(reader.get(tenants.acme_id), reader.get(tenants.other_id),
                                   reader.get(tenants.acme_id), reader.get(999_999))
    assert answers == ["acme", "other", "acme", None]
    assert calls == [sorted({tenants.acme_id, tenants.other_id, 999_999})]


async def test_a_failed_lookup_fails_its_batch_not_the_next(ctx: Context) -> None:
    async def fetch(conn: Any, keys: list[int]) -> dict[int, int]:
        if 1 in keys:
            raise RuntimeError("boom")
        return {k: k for k in keys}

    reader: GroupRead[int, int] = GroupRead(ctx.db, fetch)
    with pytest.raises(RuntimeError):
        await reader.get(1)
    assert await reader.get(2) == 2
