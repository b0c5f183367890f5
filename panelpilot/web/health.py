"""``/healthz`` (the process answers), ``/readyz`` (it can do its work) and ``/metrics``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from panelpilot.db.migrate import schema_status
from panelpilot.web.auth import context

router = APIRouter(tags=["health"])

# Later features add checks here (runners, sender backlog): name -> coroutine giving a dict
# with at least {"ok": bool}.
ReadinessCheck = Callable[[Any], Awaitable[dict[str, Any]]]
EXTRA_CHECKS: dict[str, ReadinessCheck] = {}


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _database(ctx: Any) -> dict[str, Any]:
    async with ctx.db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return {"ok": True, "dialect": ctx.db.dialect}


async def _schema(ctx: Any) -> dict[str, Any]:
    current, revision, head = await schema_status(ctx.db)
    result: dict[str, Any] = {"ok": current, "revision": revision, "head": head}
    if not current:
        result["fix"] = "run `panelpilot migrate`"
    return result


async def _run(check: ReadinessCheck, ctx: Any) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(check(ctx), timeout=5)
    except Exception as exc:  # a failing check is a report, not a crash
        return {"ok": False, "error": type(exc).__name__}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    ctx = context(request)
    checks = {"database": _database, "schema": _schema, **EXTRA_CHECKS}
    results = dict(zip(checks, await asyncio.gather(*(_run(c, ctx) for c in checks.values())),
                       strict=True))
    ok = all(r.get("ok") for r in results.values())
    return JSONResponse({"status": "ok" if ok else "fail", "checks": results},
                        status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
