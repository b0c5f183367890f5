"""Who is asking and what they may do: the console's per-request object and its access rules.

Every handler starts with ``Console.load`` (pages anyone may open), ``open_workspace`` or
``open_admin``. For a POST these read the form and check its CSRF token before anything else
happens. Anyone who is not a member of a workspace gets 404 for all of it, exactly as if it did
not exist (as in the JSON API); an agent, or anyone in a suspended workspace, gets 403 for every
change. The server decides; templates only hide what would be refused anyway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from fastapi import Request
from sqlalchemy import select
from starlette.datastructures import FormData

from panelpilot.console.ratelimit import LoginLimiter
from panelpilot.console.security import ABSOLUTE_SECONDS, COOKIE_NAME, Session, Signer
from panelpilot.context import Context
from panelpilot.tenancy.models import Membership, Role, User, Workspace, WorkspaceStatus
from panelpilot.tenancy.service import workspace_by_slug
from panelpilot.vault.crypto import VaultError

CSRF_FIELD = "csrf_token"
SWITCHER_LIMIT = 50


class Redirect(Exception):  # noqa: N818  (control flow, not an error)
    """Answer with a 303 to ``url`` (after a POST, or to the sign-in page)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class ConsoleError(Exception):
    """An error page: 403, 404, 429… with a title and a sentence that says what to do."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def not_found() -> ConsoleError:
    return ConsoleError(404, "Page not found",
                        "This page does not exist, or you do not have access to it.")


def csrf_failed() -> ConsoleError:
    return ConsoleError(
        403, "The form could not be accepted",
        "The form was too old or did not come from this console, so nothing was changed. "
        "Go back, reload the page and try again.")


def sentence(message: str) -> str:
    """A feature's error message (``"the name is empty"``) as a sentence beside a field."""
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def context_of(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def signer_of(ctx: Context) -> Signer:
    signer: Signer = ctx.singleton("console.signer", lambda: Signer.from_settings(ctx.settings))
    return signer


def limiter_of(ctx: Context) -> LoginLimiter:
    limiter: LoginLimiter = ctx.singleton("console.login_limiter", LoginLimiter)
    return limiter


def safe_next(target: str | None) -> str:
    """A local path to go to after sign-in; anything else (other hosts, ``//x``) becomes ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


@dataclass(frozen=True)
class WorkspaceLink:
    slug: str
    name: str
    role: str
    status: str


class Console:
    """The session, the signed-in user (if any) and the helpers every page needs."""

    def __init__(self, request: Request, ctx: Context, session: Session,
                 user: User | None) -> None:
        self.request = request
        self.ctx = ctx
        self.session = session
        self.user = user
        self._switcher: list[WorkspaceLink] | None = None
        self._form: FormData | None = None

    @classmethod
    async def load(cls, request: Request) -> Console:
        cached: Console | None = getattr(request.state, "console", None)
        if cached is not None:
            return cached
        ctx = context_of(request)
        signer = signer_of(ctx)
        raw = request.cookies.get(COOKIE_NAME)
        data = signer.unsign(raw) if raw else None
        session = Session.from_cookie(data) if data else None
        if session is None:
            session = Session(dirty=True)
        user = None
        if session.user_id is not None:
            async with ctx.db.read_session() as db:
                user = await db.get(User, session.user_id)
            if (user is None or not user.is_active
                    or signer.fingerprint(user.password_hash) != session.fingerprint):
                # Deactivated, deleted, or the password changed since this cookie was made.
                user = None
                session.sign_out()
            else:
                session.touch()
        console = cls(request, ctx, session, user)
        request.state.console = console
        return console

    @property
    def is_platform(self) -> bool:
        return self.user is not None and self.user.is_platform_owner

    def require_user(self) -> User:
        if self.user is None:
            path = self.request.url.path
            query = self.request.url.query
            target = f"{path}?{query}" if query else path
            if self.request.method != "GET":
                self.flash("info", "Please sign in again: your session has ended.")
                target = "/"
            raise Redirect("/login" if target == "/" else f"/login?next={quote(target)}")
        return self.user

    def flash(self, kind: str, message: str) -> None:
        self.session.flash(kind, message)

    def _once_aad(self, purpose: str) -> str:
        return f"console-once:{purpose}:{self.session.user_id}"

    def keep_once(self, purpose: str, value: str) -> None:
        """Carry a secret to the next page only, encrypted in the session cookie.

        Showing a new token on the page that answers the POST would re-create it whenever
        the browser reloads that page; after a redirect, a reload finds nothing to show.
        """
        self.session.once = [purpose, self.ctx.keyring.encrypt(value, self._once_aad(purpose))]
        self.session.dirty = True

    def take_once(self, purpose: str) -> str | None:
        if len(self.session.once) != 2 or self.session.once[0] != purpose:
            return None
        ciphertext = self.session.once[1]
        self.session.once = []
        self.session.dirty = True
        try:
            return self.ctx.keyring.decrypt(ciphertext, self._once_aad(purpose))
        except VaultError:
            return None

    def origin_ok(self) -> bool:
        origin = self.request.headers.get("origin")
        if not origin:
            return True  # older browsers and non-browser clients: the token alone decides
        allowed = {self.request.headers.get("host", ""),
                   urlsplit(self.ctx.settings.public_url).netloc}
        return urlsplit(origin).netloc in allowed

    async def form(self) -> FormData:
        """The posted form, after its CSRF token and origin were checked."""
        if self._form is None:
            form = await self.request.form()
            token = form.get(CSRF_FIELD)
            if not isinstance(token, str) or not self.session.csrf_ok(token) \
                    or not self.origin_ok():
                raise csrf_failed()
            self._form = form
        return self._form

    async def switcher(self) -> list[WorkspaceLink]:
        """The workspaces this person can open, for the header's switcher."""
        if self._switcher is not None:
            return self._switcher
        links: list[WorkspaceLink] = []
        if self.user is not None:
            async with self.ctx.db.read_session() as db:
                if self.user.is_platform_owner:
                    every = await db.execute(
                        select(Workspace.slug, Workspace.name, Workspace.status)
                        .order_by(Workspace.name).limit(SWITCHER_LIMIT))
                    links = [WorkspaceLink(s, n, Role.PLATFORM_OWNER.value, st)
                             for s, n, st in every.all()]
                else:
                    mine = await db.execute(
                        select(Workspace.slug, Workspace.name, Membership.role, Workspace.status)
                        .join(Membership, Membership.workspace_id == Workspace.id)
                        .where(Membership.user_id == self.user.id).order_by(Workspace.name))
                    links = [WorkspaceLink(s, n, r, st) for s, n, r, st in mine.all()]
        self._switcher = links
        return links

    def cookie_settings(self) -> dict[str, object]:
        return {"httponly": True, "samesite": "lax", "path": "/",
                "secure": self.ctx.settings.public_url.lower().startswith("https://")}

    def finish(self, response: object) -> None:
        """Write the session cookie if anything in it changed."""
        from starlette.responses import Response

        if not isinstance(response, Response) or not self.session.dirty:
            return
        value = signer_of(self.ctx).sign(self.session.to_cookie())
        response.set_cookie(COOKIE_NAME, value, max_age=ABSOLUTE_SECONDS,
                            **self.cookie_settings())  # type: ignore[arg-type]
        self.session.dirty = False

    def client_address(self) -> str:
        client = self.request.client
        return client.host if client else "unknown"

    def now(self) -> float:
        return time.time()


@dataclass
class WorkspacePage:
    """A signed-in person looking at one workspace, with their role in it."""

    console: Console
    user: User
    ws: Workspace
    role: str
    form: FormData | None = None

    @property
    def base(self) -> str:
        return f"/w/{self.ws.slug}"

    @property
    def is_owner(self) -> bool:
        return self.role in (Role.OWNER, Role.PLATFORM_OWNER)

    @property
    def suspended(self) -> bool:
        return self.ws.status == WorkspaceStatus.SUSPENDED

    @property
    def can_write(self) -> bool:
        # The platform owner may still fix a suspended workspace; its own owners may not.
        return self.role == Role.PLATFORM_OWNER or (self.is_owner and not self.suspended)

    @property
    def read_only_reason(self) -> str:
        if self.can_write:
            return ""
        if self.is_owner:
            return "This workspace is suspended: settings can be read but not changed."
        return "You have read-only access (agent): you can look, but not change settings."

    def value(self, name: str, default: str = "") -> str:
        """A text field of the posted form, stripped."""
        raw = self.form.get(name) if self.form is not None else None
        return raw.strip() if isinstance(raw, str) else default

    def flash(self, kind: str, message: str) -> None:
        self.console.flash(kind, message)


async def _role_in(ctx: Context, user: User, slug: str) -> tuple[Workspace, str]:
    async with ctx.db.read_session() as db:
        ws = await workspace_by_slug(db, slug)
        if ws is None:
            raise not_found()
        if user.is_platform_owner:
            return ws, Role.PLATFORM_OWNER.value
        role = (await db.execute(
            select(Membership.role).where(Membership.workspace_id == ws.id,
                                          Membership.user_id == user.id))).scalar()
    if role is None:
        raise not_found()
    return ws, str(role)


async def open_workspace(request: Request, slug: str, *, owner_only: bool = False
                         ) -> WorkspacePage:
    """Check who may open ``slug`` (and, for a POST, change it); read the form."""
    console = await Console.load(request)
    user = console.require_user()
    form = await console.form() if request.method == "POST" else None
    ws, role = await _role_in(console.ctx, user, slug)
    page = WorkspacePage(console, user, ws, role, form)
    if owner_only and not page.is_owner:
        raise ConsoleError(403, "Owners only",
                           "Only the workspace's owners can open this page.")
    if form is not None and not page.can_write:
        raise ConsoleError(403, "Not allowed", page.read_only_reason + " Nothing was changed.")
    return page


@dataclass
class AdminPage:
    console: Console
    user: User
    form: FormData | None = None

    def value(self, name: str, default: str = "") -> str:
        raw = self.form.get(name) if self.form is not None else None
        return raw.strip() if isinstance(raw, str) else default

    def flash(self, kind: str, message: str) -> None:
        self.console.flash(kind, message)


async def open_admin(request: Request) -> AdminPage:
    """The master admin: the platform owner only; everyone else gets 404."""
    console = await Console.load(request)
    user = console.require_user()
    form = await console.form() if request.method == "POST" else None
    if not user.is_platform_owner:
        raise not_found()
    return AdminPage(console, user, form)
