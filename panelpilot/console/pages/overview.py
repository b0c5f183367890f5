"""A workspace's overview: the setup checklist and the state of what is set up."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import func, select
from starlette.responses import Response

from panelpilot.channels import service as channels
from panelpilot.console.access import open_workspace
from panelpilot.console.checklist import setup_checklist
from panelpilot.console.routing import console_router, render
from panelpilot.panels import service as panels
from panelpilot.tenancy.models import Membership

router = console_router()


@router.get("/w/{slug}")
async def overview(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    ctx = page.console.ctx
    items = await setup_checklist(ctx, page.ws)
    async with ctx.db.read_session(page.ws.id) as session:
        conn = await panels.get_connection(session)
        panel = panels.view(conn) if conn else None
        channel_views = [channels.view(ctx, ch) for ch in await channels.list_channels(session)]
        members = (await session.execute(select(func.count()).select_from(Membership))
                   ).scalar_one()
    return await render(request, "ws/overview.html", page=page, active="overview",
                        title=page.ws.name, checklist=items,
                        done=sum(1 for i in items if i.done), panel=panel,
                        channels=channel_views, members=members)
