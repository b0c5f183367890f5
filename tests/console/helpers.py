"""Helpers for console tests: sign in, read CSRF tokens and flash messages out of pages."""

from __future__ import annotations

import html
import re

import httpx

PASSWORD = "correct horse battery"
OWNER = "owner@acme.test"
AGENT = "agent@acme.test"
OUTSIDER = "owner@other.test"
ROOT_EMAIL = "root@platform.test"

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_FLASH = re.compile(r'<div class="flash flash-(\w+)"[^>]*><span>(.*?)</span>', re.S)
_FIELD_ERROR = re.compile(r'<p class="field-error" id="err-([\w-]+)">(.*?)</p>', re.S)
_FORM_ERROR = re.compile(r'<div class="form-error" role="alert">(.*?)</div>', re.S)


def csrf_of(page: str) -> str:
    match = _CSRF.search(page)
    assert match, "no CSRF token in the page"
    return match.group(1)


def flashes(page: str) -> list[tuple[str, str]]:
    return [(kind, html.unescape(text)) for kind, text in _FLASH.findall(page)]


def field_errors(page: str) -> dict[str, str]:
    return {name: html.unescape(text) for name, text in _FIELD_ERROR.findall(page)}


def form_error(page: str) -> str | None:
    match = _FORM_ERROR.search(page)
    return html.unescape(match.group(1)) if match else None


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> None:
    page = await client.get("/login")
    r = await client.post("/login", data={"email": email, "password": password,
                                          "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, (r.status_code, form_error(r.text))


async def token(client: httpx.AsyncClient, path: str = "/account/password") -> str:
    """The CSRF token of this client's session (from any page that has a form)."""
    r = await client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return csrf_of(r.text)


async def post(client: httpx.AsyncClient, path: str, data: dict[str, str] | None = None,
               *, follow: bool = False) -> httpx.Response:
    """POST a form with this session's CSRF token; ``follow`` loads the page it redirects to."""
    r = await client.post(path, data={**(data or {}), "csrf_token": await token(client)})
    if follow and r.status_code == 303:
        return await client.get(r.headers["location"])
    return r
