"""How console routes answer: pages and redirects, HTML error pages, and the session cookie.

Console routes use ``ConsoleRoute``: whatever a handler raises becomes an HTML page (never the
JSON error shape of the API), the session cookie is written when it changed, and the security
headers are set. Routes stay out of the OpenAPI document, which describes the JSON API only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from panelpilot.console import nav
from panelpilot.console.access import (
    AdminPage,
    Console,
    ConsoleError,
    Redirect,
    WorkspacePage,
    not_found,
)
from panelpilot.console.rendering import apply_security_headers, html, render_text
from panelpilot.errors import DomainError

log = logging.getLogger(__name__)


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                response = await handle(request)
            except Redirect as exc:
                response = RedirectResponse(exc.url, status_code=303)
            except ConsoleError as exc:
                response = await render_error(request, exc)
            except RequestValidationError:
                # A malformed id in the path (/members/abc) is a page that does not exist.
                response = await render_error(request, not_found())
            except DomainError as exc:
                response = await render_error(
                    request, ConsoleError(exc.status, "That did not work", exc.message))
            except Exception:
                log.exception("console error on %s %s", request.method, request.url.path)
                response = await render_error(request, ConsoleError(
                    500, "Something went wrong",
                    "The console hit an unexpected error; it was logged. Try again, and if it "
                    "keeps happening, tell the platform owner."))
            console: Console | None = getattr(request.state, "console", None)
            if console is not None:
                console.finish(response)
            apply_security_headers(response)
            return response

        return route_handler


def console_router() -> APIRouter:
    """The router every console page module uses."""
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


async def render(
    request: Request, template: str, *, status: int = 200,
    page: WorkspacePage | AdminPage | None = None, active: str = "",
    headers: dict[str, str] | None = None, **values: Any,
) -> Response:
    """A full page in the layout, with the header, navigation and flash messages."""
    return html(render_text(template, await _values(request, page, active, values)), status,
                headers)


async def render_fragment(request: Request, template: str, *, status: int = 200,
                          page: WorkspacePage | AdminPage | None = None,
                          **values: Any) -> Response:
    """A piece of a page, for the small fetch-and-swap updates in console.js."""
    return html(render_text(template, await _values(request, page, "", values)), status)


async def _values(request: Request, page: WorkspacePage | AdminPage | None, active: str,
                  values: dict[str, Any]) -> dict[str, Any]:
    console = await Console.load(request)
    ws_page = page if isinstance(page, WorkspacePage) else None
    if ws_page is not None:
        menu = nav.workspace_nav(ws_page.is_owner)
    elif isinstance(page, AdminPage):
        menu = nav.admin_nav()
    else:
        menu = []
    return {
        "console": console,
        "me": console.user,
        "csrf": console.session.csrf,
        "flashes": console.session.pop_flashes(),
        "switcher": await console.switcher(),
        "page": ws_page,
        "admin": isinstance(page, AdminPage),
        "menu": menu,
        "active": active,
        "path": request.url.path,
        "errors": {},
        "values": {},
        "title": "",
        **values,
    }


async def render_error(request: Request, exc: ConsoleError) -> Response:
    try:
        console = await Console.load(request)
        values = await _values(request, None, "", {"error": exc, "title": exc.title})
        # Flashes stay for the next page: an error page is not where they belong.
        for kind, message in values["flashes"]:
            console.session.flash(kind, message)
        values["flashes"] = []
        body = render_text("error.html", values)
    except Exception:  # the database may be what failed: answer without it
        log.exception("could not render the console error page")
        body = render_text("error_bare.html", {"error": exc})
    return html(body, exc.status)
