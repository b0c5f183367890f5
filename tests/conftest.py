"""Test harness: every database test runs on SQLite or PostgreSQL (``--db`` or PANELPILOT_TEST_DB).

SQLite: a migrated template file is made once per test process and copied for each test.
PostgreSQL: one database per test process (``pp_test_<worker>``), migrated once, emptied with
TRUNCATE before each test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from panelpilot.context import Context
from panelpilot.db.engine import Database
from panelpilot.db.migrate import schema_status, upgrade
from panelpilot.db.models import metadata
from panelpilot.settings import Settings
from tests.support import Tenants

TEST_KEY = "test-secret-key-0123456789abcdef"
PG_ADMIN_URL = os.environ.get("PANELPILOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=["sqlite", "postgresql"],
                     default=os.environ.get("PANELPILOT_TEST_DB", "sqlite"),
                     help="database the suite runs on")


@pytest.fixture(scope="session")
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--db"))


def _worker_id() -> str:
    # Unique per run too: two test runs on one machine must not share (and drop) databases.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8] or f"p{os.getpid()}"
    return f"{run}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


async def _pg_recreate(name: str) -> None:
    admin = Database.unpooled(PG_ADMIN_URL)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()


async def _migrate(url: str) -> None:
    db = Database.unpooled(url)
    await upgrade(db)
    await db.dispose()


async def _pg_drop(name: str) -> None:
    admin = Database.unpooled(PG_ADMIN_URL)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
def database_template(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database: a template file (SQLite) or this process's database (PostgreSQL)."""
    if db_kind == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
        yield str(path)
        return
    name = f"pp_test_{_worker_id()}"
    asyncio.run(_pg_recreate(name))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(_pg_drop(name))


@pytest.fixture
def database_url(db_kind: str, database_template: str, tmp_path: Path) -> Iterator[str]:
    if db_kind == "sqlite":
        target = tmp_path / "test.db"
        shutil.copyfile(database_template, target)
        yield f"sqlite+aiosqlite:///{target}"
        return

    async def truncate() -> None:
        db = Database.unpooled(database_template)
        if not (await schema_status(db))[0]:  # an earlier test migrated down
            await upgrade(db)
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await db.dispose()

    asyncio.run(truncate())
    yield database_template


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_KEY,
        secret_key_file=tmp_path / "key",
        public_url="http://127.0.0.1:9",
        # Nothing in the suite may reach an outside address: unconfigured APIs go nowhere.
        telegram_api_url="http://127.0.0.1:9",
        greenapi_url="http://127.0.0.1:9",
        meta_graph_url="http://127.0.0.1:9",
        paystack_url="http://127.0.0.1:9",
        http_timeout=5.0,
        max_body_bytes=64 * 1024,
    )


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[Context]:
    context = Context.from_settings(settings)
    yield context
    await context.close()


@pytest.fixture
async def client(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    from panelpilot.web.app import create_app

    app = create_app(ctx)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def tenants(ctx: Context) -> Tenants:
    from panelpilot.tenancy import service

    async with ctx.db.platform_session() as s:
        platform = await service.create_token(s, None, name="root", role="platform_owner")
        acme = await service.create_workspace(s, slug="acme", name="Acme SMM")
        other = await service.create_workspace(s, slug="other", name="Other Panel")
    async with ctx.db.session(acme.id) as s:
        await service.add_member(s, acme.id, email="owner@acme.test", role="owner",
                                 password="correct horse battery")
        await service.add_member(s, acme.id, email="agent@acme.test", role="agent",
                                 password="correct horse battery")
        owner = await service.create_token(s, acme.id, name="owner", role="owner")
        agent = await service.create_token(s, acme.id, name="agent", role="agent")
    async with ctx.db.session(other.id) as s:
        await service.add_member(s, other.id, email="owner@other.test", role="owner",
                                 password="correct horse battery")
        outsider = await service.create_token(s, other.id, name="outsider", role="owner")
    return Tenants(platform.plaintext, owner.plaintext, agent.plaintext, outsider.plaintext,
                   acme.id, other.id)
