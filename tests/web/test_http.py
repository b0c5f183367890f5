"""Health, readiness, metrics, request ids, the body size limit and structured logs."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from panelpilot.context import Context
from panelpilot.db.migrate import downgrade
from panelpilot.logs import JsonFormatter, TextFormatter, configure_logging, workspace_var
from tests.support import Tenants


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_readyz_names_each_check(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["schema"]["ok"]


async def test_readyz_fails_on_outdated_schema(ctx: Context, client: httpx.AsyncClient) -> None:
    await downgrade(ctx.db, "base")
    r = await client.get("/readyz")
    assert r.status_code == 503
    schema = r.json()["checks"]["schema"]
    assert schema["ok"] is False and "panelpilot migrate" in schema["fix"]


async def test_oversize_bodies_get_413(client: httpx.AsyncClient, tenants: Tenants) -> None:
    headers = Tenants.auth(tenants.platform)
    big = b'{"slug": "x", "name": "' + b"y" * (70 * 1024) + b'"}'
    r = await client.post("/api/v1/workspaces", content=big,
                          headers={**headers, "content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"

    async def chunks():  # no content-length: the limit is counted while reading
        for _ in range(80):
            yield b"y" * 1024

    r = await client.post("/api/v1/workspaces", content=chunks(),
                          headers={**headers, "content-type": "application/json"})
    assert r.status_code == 413
    listed = await client.get("/api/v1/workspaces", headers=headers)
    assert [w["slug"] for w in listed.json()] == ["acme", "other"]


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
    r = await client.get("/api/v1/me")
    assert len(r.headers["x-request-id"]) == 16
    assert r.json()["error"]["request_id"] == r.headers["x-request-id"]


async def test_metrics_count_requests_by_route(
    client: httpx.AsyncClient, tenants: Tenants
) -> None:
    await client.get("/api/v1/workspaces/acme", headers=Tenants.auth(tenants.owner))
    await client.get("/no/such/path/123")
    text = (await client.get("/metrics")).text
    assert 'panelpilot_http_requests_total{method="GET",route="/api/v1/workspaces/{slug}"' in text
    assert "panelpilot_http_request_duration_seconds_bucket" in text
    assert 'route="unmatched"' in text and "/no/such/path" not in text


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("panelpilot.test", logging.INFO, __file__, 1, msg, (), None)
    for k, v in extra.items():
        setattr(record, k, v)
    return record


def test_json_log_lines_carry_workspace_and_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "INFO")
    token = workspace_var.set("acme")
    try:
        logging.getLogger("panelpilot.test").info("hello", extra={"order": "2274209"})
    finally:
        workspace_var.reset(token)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["msg"] == "hello" and line["workspace"] == "acme" and line["order"] == "2274209"
    assert line["level"] == "info" and "ts" in line
    text = TextFormatter().format(_record("plain", workspace="acme", request_id="r1"))
    assert "plain" in text and "ws=acme" in text and "req=r1" in text
    assert json.loads(JsonFormatter().format(_record("x")))["msg"] == "x"
    configure_logging("text", "WARNING")


@pytest.mark.parametrize("on", [False, True])
async def test_opentelemetry_only_when_asked(ctx: Context, on: bool) -> None:
    from panelpilot.web.app import create_app

    ctx.settings = ctx.settings.model_copy(update={"opentelemetry": on})
    app = create_app(ctx)
    # FastAPI's telemetry options (no public reader): every signal follows the setting.
    assert [app._telemetry[s] for s in ("tracing", "metrics", "logs")] == [on, on, on]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        assert (await c.get("/healthz")).status_code == 200
