"""Console test fixtures: the app with the console installed and one HTTP client per person."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from panelpilot.console import install
from panelpilot.context import Context
from panelpilot.settings import Settings
from panelpilot.tenancy import service
from tests.console.helpers import PASSWORD, ROOT_EMAIL, login

ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its production cost takes ~0.3 s per sign-in here; these tests sign in a lot.
    Same algorithm and code path, lower cost."""
    from argon2 import PasswordHasher

    from panelpilot.tenancy import passwords

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                             parallelism=1))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Outside APIs point at a closed loopback port: a test that forgets a simulator fails fast
    # instead of calling the real Telegram.
    dead = "http://127.0.0.1:9"
    return settings.model_copy(update={"telegram_api_url": dead, "greenapi_url": dead,
                                       "meta_graph_url": dead, "http_timeout": 5.0})


@pytest.fixture
def app(ctx: Context) -> FastAPI:
    from panelpilot.web.app import create_app

    application = create_app(ctx)
    install(application)
    return application


@pytest.fixture
async def clients(app: FastAPI) -> AsyncIterator[ClientFactory]:
    """``await clients(email)``: a signed-in client (or anonymous with ``None``)."""
    opened: list[httpx.AsyncClient] = []

    async def make(email: str | None = None, password: str = PASSWORD,
                   address: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(client)
        if email is not None:
            await login(client, email, password)
        return client

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture
async def client(clients: ClientFactory) -> httpx.AsyncClient:
    return await clients()


@pytest.fixture
async def root(ctx: Context) -> str:
    """A platform owner (master admin) account; returns its email."""
    async with ctx.db.platform_session() as s:
        await service.create_user(s, email=ROOT_EMAIL, password=PASSWORD, platform_owner=True)
    return ROOT_EMAIL
