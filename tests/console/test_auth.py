"""Sign-in, sign-out, rate limiting, CSRF, session cookies and password change."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from panelpilot.console.access import safe_next
from panelpilot.console.ratelimit import LoginLimiter
from panelpilot.console.security import COOKIE_NAME, IDLE_SECONDS, Session, Signer
from panelpilot.context import Context
from panelpilot.tenancy.models import User
from tests.console.conftest import ClientFactory
from tests.console.helpers import (
    AGENT,
    OWNER,
    PASSWORD,
    csrf_of,
    field_errors,
    flashes,
    form_error,
    login,
    post,
    token,
)
from tests.support import Tenants


async def _try(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post("/login", data={"email": email, "password": password,
                                             "csrf_token": csrf_of(page.text)})


async def test_sign_in_lands_on_the_only_workspace(
    clients: ClientFactory, tenants: Tenants
) -> None:
    client = await clients()
    r = await client.get("/w/acme/panel")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/w/acme/panel"
    page = await client.get(r.headers["location"])
    assert page.status_code == 200 and 'name="next" value="/w/acme/panel"' in page.text
    r = await client.post("/login", data={"email": "OWNER@acme.test ", "password": PASSWORD,
                                          "next": "/w/acme/panel",
                                          "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/w/acme/panel"
    assert (await client.get("/")).headers["location"] == "/w/acme"
    r = await client.get("/w/acme")
    assert r.status_code == 200 and "Setup checklist" in r.text and OWNER in r.text


async def test_session_cookie_flags(clients: ClientFactory, tenants: Tenants) -> None:
    client = await clients()
    r = await client.get("/login")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # the test installation runs on http://


async def test_secure_cookie_behind_https(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    ctx.settings.public_url = "https://console.example.com"
    client = await clients()
    r = await client.get("/login")
    assert "Secure" in r.headers["set-cookie"]


async def test_wrong_password_and_unknown_email_say_the_same(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    client = await clients()
    wrong = await _try(client, OWNER, "not the password at all")
    unknown = await _try(client, "nobody@acme.test", "not the password at all")
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert form_error(r.text) == "The email address or the password is not right."
        assert 'value="' in r.text and "not the password" not in r.text  # never echoed
    assert (await client.get("/w/acme")).status_code == 303  # still signed out
    async with ctx.db.platform_session() as s:
        user = (await s.execute(select(User).where(User.email == OWNER))).scalar_one()
        assert user.last_login_at is None


async def test_empty_fields_get_messages_beside_them(
    clients: ClientFactory, tenants: Tenants
) -> None:
    r = await _try(await clients(), "", "")
    assert r.status_code == 422
    assert field_errors(r.text) == {"email": "Enter your email address.",
                                    "password": "Enter your password."}


async def test_login_is_rate_limited_per_email_and_address(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    now = [1000.0]
    ctx.state["console.login_limiter"] = LoginLimiter(clock=lambda: now[0])
    client = await clients(address="10.0.0.1")
    for _ in range(5):
        assert (await _try(client, OWNER, "wrong password 123")).status_code == 401
    blocked = await _try(client, OWNER, PASSWORD)  # even the right password waits
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in (form_error(blocked.text) or "")
    assert "try again in 15 minutes" in (form_error(blocked.text) or "")
    assert int(blocked.headers["retry-after"]) == 900
    assert (await client.get("/w/acme")).status_code == 303
    # Another person on the same address, and the same person elsewhere, are not blocked.
    assert (await _try(client, AGENT, PASSWORD)).status_code == 303
    assert (await _try(await clients(address="10.0.0.2"), OWNER, PASSWORD)).status_code == 303
    now[0] += 14 * 60
    again = await _try(await clients(address="10.0.0.1"), OWNER, PASSWORD)
    assert again.status_code == 429 and "1 minute" in (form_error(again.text) or "")
    now[0] += 61
    assert (await _try(await clients(address="10.0.0.1"), OWNER, PASSWORD)).status_code == 303


async def test_one_address_trying_many_emails_is_stopped(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    ctx.state["console.login_limiter"] = LoginLimiter(max_per_address=8)
    client = await clients(address="10.9.9.9")
    for i in range(8):
        assert (await _try(client, f"guess{i}@acme.test", "whatever 12345")).status_code == 401
    assert (await _try(client, OWNER, PASSWORD)).status_code == 429


async def test_login_form_needs_its_csrf_token(clients: ClientFactory, tenants: Tenants) -> None:
    client = await clients()
    await client.get("/login")
    r = await client.post("/login", data={"email": OWNER, "password": PASSWORD,
                                          "csrf_token": "forged"})
    assert r.status_code == 403
    assert "expired" in (form_error(r.text) or "")
    assert (await client.get("/w/acme")).status_code == 303
    # A client with no cookie at all (a cross-site form) is refused the same way.
    bare = await clients()
    r = await bare.post("/login", data={"email": OWNER, "password": PASSWORD})
    assert r.status_code == 403


def test_next_is_only_a_local_path() -> None:
    assert safe_next("/w/acme/panel?x=1") == "/w/acme/panel?x=1"
    for bad in ("//evil.example", "https://evil.example/", "/\\evil.example", "", None,
                "javascript:alert(1)"):
        assert safe_next(bad) == "/"


async def test_sign_in_rotates_the_csrf_token(clients: ClientFactory, tenants: Tenants) -> None:
    client = await clients()
    before = csrf_of((await client.get("/login")).text)
    await login(client, OWNER)
    assert await token(client) != before


async def test_logout(clients: ClientFactory, tenants: Tenants) -> None:
    client = await clients(OWNER)
    r = await client.post("/logout", data={"csrf_token": "forged"})
    assert r.status_code == 403  # a forged sign-out changes nothing either
    assert (await client.get("/w/acme")).status_code == 200
    r = await post(client, "/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = await client.get("/login")
    assert ("success", "You are signed out.") in flashes(page.text)
    assert (await client.get("/w/acme")).status_code == 303


async def test_tampered_or_expired_cookie_is_anonymous(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    client = await clients(OWNER)
    value = client.cookies[COOKIE_NAME]
    payload, _, mac = value.partition(".")
    client.cookies.set(COOKIE_NAME, payload + "." + ("A" if mac[0] != "A" else "B") + mac[1:])
    assert (await client.get("/w/acme")).status_code == 303
    # A correctly signed cookie that idled out is no better.
    signer = Signer(ctx.settings.secret_key or "")
    data = signer.unsign(value)
    assert data is not None
    stale = Session.from_cookie(data)
    assert stale is not None
    stale.seen_at -= IDLE_SECONDS + 1
    client.cookies.set(COOKIE_NAME, signer.sign(stale.to_cookie()))
    assert (await client.get("/w/acme")).status_code == 303


async def test_turned_off_account_cannot_sign_in_and_is_signed_out(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    client = await clients(OWNER)
    async with ctx.db.platform_session() as s:
        user = (await s.execute(select(User).where(User.email == OWNER))).scalar_one()
        user.is_active = False
    assert (await client.get("/w/acme")).status_code == 303
    r = await _try(await clients(), OWNER, PASSWORD)
    assert r.status_code == 403 and "turned off" in (form_error(r.text) or "")


async def test_password_change(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    client = await clients(OWNER)
    elsewhere = await clients(OWNER)
    new = "a brand new passphrase"
    r = await post(client, "/account/password", {"current_password": "wrong one 123",
                                                 "new_password": new, "confirm_password": new})
    assert r.status_code == 422
    assert field_errors(r.text) == {"current_password": "This is not your current password."}
    r = await post(client, "/account/password", {"current_password": PASSWORD,
                                                 "new_password": "short",
                                                 "confirm_password": "short"})
    assert r.status_code == 422 and "at least 10 characters" in field_errors(r.text)[
        "new_password"]
    r = await post(client, "/account/password", {"current_password": PASSWORD,
                                                 "new_password": new,
                                                 "confirm_password": new + "x"})
    assert field_errors(r.text) == {
        "confirm_password": "The two new passwords are not the same."}
    r = await post(client, "/account/password", {"current_password": PASSWORD,
                                                 "new_password": new, "confirm_password": new},
                   follow=True)
    assert r.status_code == 200 and flashes(r.text)[0][0] == "success"
    # This browser stays signed in; the other one was signed out; the old password is dead.
    assert (await client.get("/w/acme")).status_code == 200
    assert (await elsewhere.get("/w/acme")).status_code == 303
    assert (await _try(await clients(), OWNER, PASSWORD)).status_code == 401
    await login(await clients(), OWNER, new)


async def test_password_change_needs_csrf_and_limits_guessing(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    client = await clients(AGENT)  # agents change their own password too
    r = await client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "x" * 12 + "yz!?",
        "confirm_password": "x" * 12 + "yz!?", "csrf_token": "forged"})
    assert r.status_code == 403
    await login(await clients(), AGENT)  # unchanged
    for _ in range(5):
        await post(client, "/account/password", {"current_password": "guess guess 1",
                                                 "new_password": "another one 123",
                                                 "confirm_password": "another one 123"})
    r = await post(client, "/account/password", {"current_password": PASSWORD,
                                                 "new_password": "another one 123",
                                                 "confirm_password": "another one 123"})
    assert r.status_code == 429
    await login(await clients(), AGENT)  # still unchanged


async def test_pages_carry_security_headers(clients: ClientFactory, tenants: Tenants) -> None:
    r = await (await clients(OWNER)).get("/w/acme")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"


async def test_unknown_pages_are_html_for_people_and_json_for_the_api(
    clients: ClientFactory, tenants: Tenants
) -> None:
    client = await clients(OWNER)
    r = await client.get("/w/acme/no-such-page", headers={"accept": "text/html"})
    assert r.status_code == 404 and "Page not found" in r.text
    assert r.headers["content-type"].startswith("text/html")
    r = await client.get("/api/v1/nothing-here", headers={"accept": "text/html"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.get("/w/acme/members/abc/remove", headers={"accept": "text/html"})
    assert r.status_code == 404


async def test_console_is_not_in_the_api_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/api/openapi.json")).json()["paths"]
    assert not [p for p in paths if not p.startswith("/api/") and p not in (
        "/healthz", "/readyz", "/metrics")]


async def test_static_files_are_served(client: httpx.AsyncClient) -> None:
    for name in ("console.css", "console.js", "favicon.svg"):
        r = await client.get(f"/static/console/{name}")
        assert r.status_code == 200 and r.content
