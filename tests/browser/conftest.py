"""Browser test harness: Debian's Chromium driven by Playwright against a real uvicorn server.

The app, its database context and the simulators all live on one event loop in a background
thread (the database connections belong to that loop), while the tests drive the browser with
Playwright's sync API from the main thread. One browser is shared per module; every test gets
a fresh database, server and browser context.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from panelpilot.context import Context
from panelpilot.db.engine import Database
from panelpilot.db.migrate import schema_status, upgrade
from panelpilot.db.models import metadata
from panelpilot.settings import Settings
from panelpilot.sim.server import LoopbackServer

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "correct horse battery"
OWNER, AGENT, OUTSIDER, ROOT = ("owner@acme.test", "agent@acme.test", "owner@other.test",
                                "root@platform.test")


class LoopThread:
    """An event loop running in a daemon thread; ``run`` executes a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="console-site",
                                        daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclass
class Site:
    """The console served on loopback, with the handles tests need to set up and check."""

    url: str
    ctx: Context
    loop: LoopThread
    acme_id: int
    other_id: int

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return self.loop.run(coro, timeout)

    def serve(self, app: Any) -> str:
        """Serve another ASGI app (a simulator) on loopback for the rest of the test."""
        server = LoopbackServer(app)
        self._servers.append(server)
        return self.run(server.start())

    def __post_init__(self) -> None:
        self._servers: list[LoopbackServer] = []


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same algorithm, lower cost: production argon2 takes ~0.3 s per sign-in here."""
    from argon2 import PasswordHasher

    from panelpilot.tenancy import passwords

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                             parallelism=1))


@pytest.fixture
def database_url(db_kind: str, database_template: str, tmp_path: Path,
                 loop_thread: LoopThread) -> Iterator[str]:
    """As the suite's own fixture, but PostgreSQL is emptied on the harness's loop: Playwright's
    sync API keeps an event loop running in the main thread, where ``asyncio.run`` refuses."""
    if db_kind == "sqlite":
        target = tmp_path / "test.db"
        shutil.copyfile(database_template, target)
        yield f"sqlite+aiosqlite:///{target}"
        return

    async def truncate() -> None:
        db = Database.unpooled(database_template)
        if not (await schema_status(db))[0]:
            await upgrade(db)
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await db.dispose()

    loop_thread.run(truncate())
    yield database_template


@pytest.fixture(scope="module")
def browser(database_template: str) -> Iterator[Any]:
    # database_template first: it is made with asyncio.run, which must happen before
    # Playwright takes over the main thread's event loop.
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's Chromium at /usr/bin/chromium "
                    "(apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a test dependency
        pytest.skip("browser tests need the playwright package (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


async def _seed(ctx: Context) -> tuple[int, int]:
    from panelpilot.tenancy import service

    async with ctx.db.platform_session() as s:
        await service.create_user(s, email=ROOT, password=PASSWORD, name="Platform Owner",
                                  platform_owner=True)
        acme = await service.create_workspace(s, slug="acme", name="Acme SMM", plan="pro")
        other = await service.create_workspace(s, slug="other", name="Other Panel")
    async with ctx.db.session(acme.id) as s:
        await service.add_member(s, acme.id, email=OWNER, role="owner", password=PASSWORD,
                                 name="Ada Owner")
        await service.add_member(s, acme.id, email=AGENT, role="agent", password=PASSWORD,
                                 name="Sam Agent")
    async with ctx.db.session(other.id) as s:
        await service.add_member(s, other.id, email=OUTSIDER, role="owner", password=PASSWORD)
    return acme.id, other.id


@pytest.fixture
def site(browser: Any, settings: Settings, loop_thread: LoopThread) -> Iterator[Site]:
    from panelpilot.console import install
    from panelpilot.web.app import create_app

    async def start() -> tuple[Context, LoopbackServer, int, int]:
        ctx = Context.from_settings(settings)
        app = create_app(ctx)
        install(app)
        server = LoopbackServer(app)
        # Webhook URLs shown in the console point at this server, as in a real installation.
        ctx.settings.public_url = server.url
        acme_id, other_id = await _seed(ctx)
        await server.start()
        return ctx, server, acme_id, other_id

    ctx, server, acme_id, other_id = loop_thread.run(start())
    the_site = Site(server.url, ctx, loop_thread, acme_id, other_id)
    yield the_site

    async def stop() -> None:
        for sim in the_site._servers:
            await sim.stop()
        await server.stop()
        await ctx.close()

    loop_thread.run(stop())


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=site.url)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    # A loaded CI machine can take seconds to render a page; assertions wait through expect().
    from playwright.sync_api import expect
    expect.set_options(timeout=15_000)
    tab.on("dialog", lambda dialog: dialog.accept())
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
