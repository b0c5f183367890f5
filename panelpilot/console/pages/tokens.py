"""API tokens of a workspace (owners only): create one and see it once, revoke."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import WorkspacePage, open_workspace, sentence
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.db.base import utcnow
from panelpilot.errors import DomainError
from panelpilot.tenancy import service
from panelpilot.tenancy.models import Role

router = console_router()
EXPIRY_CHOICES = {"": "Never", "30": "In 30 days", "90": "In 90 days", "365": "In a year"}
ROLE_LABELS = {Role.AGENT.value: "Agent (read-only)", Role.OWNER.value: "Owner (can change)"}


async def _show(request: Request, page: WorkspacePage, *, status: int = 200,
                errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                created: str | None = None) -> Response:
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        tokens = await service.list_tokens(session)
    return await render(request, "ws/tokens.html", status=status, page=page, active="tokens",
                        title="API tokens", tokens=list(reversed(tokens)), now=utcnow(),
                        expiry=EXPIRY_CHOICES, roles=ROLE_LABELS, errors=errors or {},
                        values=values or {"role": Role.AGENT.value, "expires": ""},
                        created=created)


@router.get("/w/{slug}/tokens")
async def tokens_page(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug, owner_only=True)
    return await _show(request, page, created=page.console.take_once(f"token:{page.ws.id}"))


@router.post("/w/{slug}/tokens")
async def create_token(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug, owner_only=True)
    values = {"name": page.value("name"), "role": page.value("role"),
              "expires": page.value("expires")}
    errors: dict[str, str] = {}
    if values["role"] not in ROLE_LABELS:
        errors["role"] = "Choose agent or owner."
    if values["expires"] not in EXPIRY_CHOICES:
        errors["expires"] = "Choose when the token stops working."
    if not values["name"]:
        errors["name"] = "Name the token after what will use it, e.g. “CRM sync”."
    plaintext = None
    if not errors:
        expires_at = (utcnow() + timedelta(days=int(values["expires"]))
                      if values["expires"] else None)
        try:
            async with page.console.ctx.db.session(page.ws.id) as session:
                issued = await service.create_token(session, page.ws.id, name=values["name"],
                                                    role=values["role"],
                                                    created_by=page.user.id,
                                                    expires_at=expires_at)
                plaintext = issued.plaintext
        except DomainError as exc:
            errors[exc.field if exc.field in values else "form"] = sentence(exc.message)
    if errors or plaintext is None:
        return await _show(request, page, status=422, errors=errors, values=values)
    # Only a hash is stored; the page after this redirect shows the token this one time
    # (pages carry Cache-Control: no-store).
    page.console.keep_once(f"token:{page.ws.id}", plaintext)
    return redirect(f"{page.base}/tokens#new-token")


@router.post("/w/{slug}/tokens/{token_id}/revoke")
async def revoke_token(request: Request, slug: str, token_id: int) -> Response:
    page = await open_workspace(request, slug, owner_only=True)
    async with page.console.ctx.db.session(page.ws.id) as session:
        token = await service.revoke_token(session, token_id)
        name = token.name
    page.flash("success", f"The token “{name}” was revoked: it stops working at once.")
    return redirect(f"{page.base}/tokens")
