"""Build the FastAPI app: middleware, error shape, health, API routers, webhooks, console."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.types import ASGIApp

from panelpilot import __version__
from panelpilot.channels.hooks import HooksMiddleware
from panelpilot.context import Context, settle_process
from panelpilot.web import errors
from panelpilot.web.middleware import RequestMiddleware


class PanelpilotApp(FastAPI):
    """FastAPI with request ids, metrics, the body limit and the webhook fast path outermost.

    Webhooks are the hot path: they are answered before FastAPI's own middleware and routing.
    """

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        return RequestMiddleware(HooksMiddleware(inner),
                                 max_body_bytes=self.state.ctx.settings.max_body_bytes)


def create_app(ctx: Context, *, own_context: bool = False) -> FastAPI:
    """The web app over ``ctx``; with ``own_context`` it closes the context on shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if own_context:
            settle_process()
        yield
        if own_context:
            await ctx.close()

    otel = ctx.settings.opentelemetry
    app = PanelpilotApp(
        title="panelpilot",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
        telemetry={"tracing": otel, "metrics": otel, "logs": otel},
    )
    app.state.ctx = ctx
    errors.install(app)

    from panelpilot.channels.api import router as channels_router
    from panelpilot.chats.api import router as chats_router
    from panelpilot.inbox.api import router as inbox_router
    from panelpilot.orders.api import router as orders_router
    from panelpilot.outbox.api import router as outbox_router
    from panelpilot.panels.api import router as panel_router
    from panelpilot.runners.api import router as runners_router
    from panelpilot.runners.health import readiness
    from panelpilot.templates.api import router as templates_router
    from panelpilot.tenancy.api import router as tenancy_router
    from panelpilot.web.health import EXTRA_CHECKS
    from panelpilot.web.health import router as health_router

    EXTRA_CHECKS["spine"] = readiness
    app.include_router(health_router)
    app.include_router(tenancy_router)
    app.include_router(panel_router)
    app.include_router(channels_router)
    for router in (chats_router, inbox_router, outbox_router, templates_router,
                   runners_router):
        app.include_router(router)

    from panelpilot import console

    console.install(app)
    app.include_router(orders_router)

    return app
