"""JSON API for the platform's background health: runners, backlogs, channel states."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from panelpilot.runners.health import backlog, runner_rows
from panelpilot.web.auth import Principal, context, principal, require_platform

router = APIRouter(prefix="/api/v1/platform", tags=["platform"])
Who = Annotated[Principal, Depends(principal)]


@router.get("/health")
async def health(request: Request, who: Who) -> dict[str, Any]:
    require_platform(who)
    ctx = context(request)
    return {"runners": await runner_rows(ctx), "backlog": await backlog(ctx)}
