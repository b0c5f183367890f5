"""The admin console: server-rendered pages at ``/`` for workspace owners, agents and the
platform owner.

``install(app)`` adds the console to the web app; call it at the end of ``create_app``, after
``panelpilot.web.errors.install`` (the console's HTML 404 page wraps that JSON handler).

How the parts fit:
- ``access``: the per-request ``Console`` (signed session cookie, CSRF check, the signed-in
  user) and the rules ``open_workspace`` / ``open_admin`` that every handler starts with;
- ``routing``: ``console_router()`` and ``render()``; errors become HTML pages;
- ``nav``: the navigation registry, ``checklist``: the setup checklist with its hooks;
- ``pages/``: one module per page, listed in ``pages.PAGES``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from panelpilot.console.rendering import STATIC_DIR, STATIC_PREFIX

# Paths that belong to machines: they keep the JSON error shape even for a browser.
MACHINE_PREFIXES = ("/api", "/hooks", "/healthz", "/readyz", "/metrics", STATIC_PREFIX)


def install(app: FastAPI) -> None:
    """Mount the console's routes at ``/`` and its static files at ``/static/console``."""
    if getattr(app.state, "console_installed", False):
        return
    app.state.console_installed = True

    from panelpilot.console.pages import PAGES

    for router in PAGES:
        app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="console-static")

    previous = app.exception_handlers.get(StarletteHTTPException, http_exception_handler)

    async def html_or_json(request: Request, exc: Exception) -> Response:
        # A person who mistypes a console address gets the console's 404 page, while API
        # clients keep the JSON shape they parse.
        assert isinstance(exc, StarletteHTTPException)
        wants_html = "text/html" in request.headers.get("accept", "")
        if (wants_html and exc.status_code in (404, 405)
                and not request.url.path.startswith(MACHINE_PREFIXES)):
            from panelpilot.console.access import ConsoleError
            from panelpilot.console.rendering import apply_security_headers
            from panelpilot.console.routing import render_error

            error = ConsoleError(404, "Page not found",
                                 "This page does not exist, or you do not have access to it.")
            response = await render_error(request, error)
            console = getattr(request.state, "console", None)
            if console is not None:
                console.finish(response)
            apply_security_headers(response)
            return response
        result: Response = await previous(request, exc)  # type: ignore[misc]
        return result

    app.add_exception_handler(StarletteHTTPException, html_or_json)
