"""Signing in and out, changing one's password, and the start page that picks a workspace."""

from __future__ import annotations

import asyncio
import functools
import math
import secrets

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import (
    CSRF_FIELD,
    Console,
    limiter_of,
    safe_next,
    sentence,
    signer_of,
)
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.db.base import utcnow
from panelpilot.tenancy.models import User
from panelpilot.tenancy.passwords import (
    check_password_strength,
    hash_password,
    needs_rehash,
    verify_password,
)
from panelpilot.tenancy.service import user_by_email

router = console_router()


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


async def _verify(password_hash: str | None, password: str) -> bool:
    # argon2 costs a good fraction of a second of CPU: off the event loop. An unknown email is
    # checked against a dummy hash so that it takes as long as a wrong password.
    def check() -> bool:
        return verify_password(password_hash or _dummy_hash(), password)

    return await asyncio.to_thread(check) and password_hash is not None


def _wait_text(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@router.get("/")
async def home(request: Request) -> Response:
    console = await Console.load(request)
    user = console.require_user()
    if user.is_platform_owner:
        return redirect("/admin")
    links = await console.switcher()
    if len(links) == 1:
        return redirect(f"/w/{links[0].slug}")
    return await render(request, "workspaces.html", title="Your workspaces", links=links)


@router.get("/workspaces")
async def workspaces(request: Request) -> Response:
    console = await Console.load(request)
    console.require_user()
    return await render(request, "workspaces.html", title="Your workspaces",
                        links=await console.switcher())


async def _login_page(request: Request, *, status: int, next_url: str, email: str = "",
                      errors: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> Response:
    return await render(request, "login.html", status=status, title="Sign in", next=next_url,
                        values={"email": email}, errors=errors or {}, headers=headers)


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    console = await Console.load(request)
    if console.user is not None:
        return redirect(safe_next(next))
    return await _login_page(request, status=200, next_url=safe_next(next))


@router.post("/login")
async def login(request: Request) -> Response:
    console = await Console.load(request)
    form = await request.form()
    email = str(form.get("email") or "").strip().lower()[:254]
    password = str(form.get("password") or "")[:1000]
    next_url = safe_next(str(form.get("next") or "/"))
    token = form.get(CSRF_FIELD)
    if not isinstance(token, str) or not console.session.csrf_ok(token) \
            or not console.origin_ok():
        # Usually a sign-in page left open past its session: show a fresh form, change nothing.
        return await _login_page(request, status=403, next_url=next_url, email=email, errors={
            "form": "This sign-in form had expired, so it was not accepted. "
                    "Please sign in again."})
    limiter = limiter_of(console.ctx)
    address = console.client_address()
    wait = limiter.retry_after(email, address)
    if wait > 0:
        return await _login_page(
            request, status=429, next_url=next_url, email=email,
            headers={"Retry-After": str(math.ceil(wait))},
            errors={"form": "Too many failed sign-in attempts. For your safety, sign-in is "
                            f"paused: try again in {_wait_text(wait)}."})
    errors = {}
    if not email:
        errors["email"] = "Enter your email address."
    if not password:
        errors["password"] = "Enter your password."
    if errors:
        return await _login_page(request, status=422, next_url=next_url, email=email,
                                 errors=errors)
    async with console.ctx.db.read_session() as db:
        user = await user_by_email(db, email)
        stored = user.password_hash if user is not None else None
    if not await _verify(stored, password) or user is None:
        limiter.failed(email, address)
        return await _login_page(request, status=401, next_url=next_url, email=email, errors={
            "form": "The email address or the password is not right."})
    if not user.is_active:
        return await _login_page(request, status=403, next_url=next_url, email=email, errors={
            "form": "This account is turned off. Ask the platform owner to turn it back on."})
    new_hash = await asyncio.to_thread(hash_password, password) if needs_rehash(stored or "") \
        else None
    async with console.ctx.db.platform_session() as db:
        row = await db.get(User, user.id)
        assert row is not None
        if new_hash:
            row.password_hash = new_hash
        row.last_login_at = utcnow()
        fingerprint = signer_of(console.ctx).fingerprint(row.password_hash)
    limiter.succeeded(email, address)
    console.session.sign_in(user.id, fingerprint)
    return redirect(next_url)


@router.post("/logout")
async def logout(request: Request) -> Response:
    console = await Console.load(request)
    if console.user is None:
        return redirect("/login")
    await console.form()
    console.session.sign_out()
    console.flash("success", "You are signed out.")
    return redirect("/login")


@router.get("/account/password")
async def password_form(request: Request) -> Response:
    console = await Console.load(request)
    console.require_user()
    return await render(request, "password.html", title="Change password")


@router.post("/account/password")
async def change_password(request: Request) -> Response:
    console = await Console.load(request)
    user = console.require_user()
    form = await console.form()
    current = str(form.get("current_password") or "")
    new = str(form.get("new_password") or "")
    confirm = str(form.get("confirm_password") or "")
    limiter = limiter_of(console.ctx)
    # Counted apart from sign-in: a stolen session must not be able to guess the password.
    limit_key, address = f"password-change:{user.id}", console.client_address()
    wait = limiter.retry_after(limit_key, address)
    if wait > 0:
        return await render(request, "password.html", status=429, title="Change password",
                            errors={"current_password": "Too many wrong attempts: try again in "
                                                        f"{_wait_text(wait)}."})
    errors: dict[str, str] = {}
    if not await _verify(user.password_hash, current):
        limiter.failed(limit_key, address)
        errors["current_password"] = "This is not your current password."
    weak = check_password_strength(new)
    if weak:
        errors["new_password"] = sentence(weak)
    elif new == current:
        errors["new_password"] = "Choose a password different from the current one."
    if not errors.get("new_password") and new != confirm:
        errors["confirm_password"] = "The two new passwords are not the same."
    if errors:
        return await render(request, "password.html", status=422, title="Change password",
                            errors=errors)
    new_hash = await asyncio.to_thread(hash_password, new)
    async with console.ctx.db.platform_session() as db:
        row = await db.get(User, user.id)
        assert row is not None
        row.password_hash = new_hash
    limiter.succeeded(limit_key, address)
    # A new fingerprint signs out every other browser that had this account open.
    console.session.sign_in(user.id, signer_of(console.ctx).fingerprint(new_hash))
    console.flash("success", "Your password was changed. Other browsers were signed out.")
    return redirect("/account/password")
