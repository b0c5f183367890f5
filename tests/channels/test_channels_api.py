"""Channels, chats, templates and logs through the API and the workspace file, over simulators."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from panelpilot.settings import Settings
from panelpilot.workspaces.apply import apply_file, export_workspace
from tests.e2e.harness import GREEN_ID, GREEN_TOKEN, TG_TOKEN, Stack, build_stack, eventually


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async for s in build_stack(settings):
        yield s


async def _auth(stack: Stack, role: str = "owner") -> dict[str, str]:
    from panelpilot.tenancy.service import create_token

    async with stack.ctx.db.session(stack.workspace_id) as s:
        token = (await create_token(s, stack.workspace_id, name=role, role=role)).plaintext
    return {"Authorization": f"Bearer {token}"}


async def test_put_channel_connects_for_real_and_masks_the_token(stack: Stack) -> None:
    owner = await _auth(stack)
    r = await stack.http.put("/api/v1/workspaces/acme/channels/bot", headers=owner,
                             json={"type": "telegram", "mode": "webhook", "token": TG_TOKEN})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "active" and body["config"]["bot_username"] == "pilot_bot"
    assert TG_TOKEN not in r.text and body["token"].startswith("••••")
    assert stack.tg.webhook_info(TG_TOKEN)["url"] == body["webhook_url"]
    # switching to polling removes the webhook
    r = await stack.http.put("/api/v1/workspaces/acme/channels/bot", headers=owner,
                             json={"type": "telegram", "mode": "polling"})
    assert r.json()["mode"] == "polling" and stack.tg.webhook_info(TG_TOKEN)["url"] == ""
    # a bad token is a channel problem shown to the owner, not an error page
    r = await stack.http.put("/api/v1/workspaces/acme/channels/bad", headers=owner,
                             json={"type": "telegram", "token": "999:not-a-known-bot"})
    assert r.status_code == 200 and r.json()["status"] == "problem"
    r = await stack.http.put("/api/v1/workspaces/acme/channels/Bad Key", headers=owner,
                             json={"type": "telegram", "token": TG_TOKEN})
    assert r.status_code == 422
    r = await stack.http.put("/api/v1/workspaces/acme/channels/cloud", headers=owner,
                             json={"type": "meta", "mode": "polling", "phone_number_id": "1",
                                   "access_token": "x", "app_secret": "y"})
    assert r.status_code == 422
    listed = (await stack.http.get("/api/v1/workspaces/acme/channels", headers=owner)).json()
    assert [c["key"] for c in listed] == ["bad", "bot"]
    assert (await stack.http.delete("/api/v1/workspaces/acme/channels/bad",
                                    headers=owner)).status_code == 204


async def test_templates_chats_messages_and_outbox_logs(stack: Stack) -> None:
    owner, agent = await _auth(stack), await _auth(stack, "agent")
    await stack.telegram("webhook")
    r = await stack.http.put("/api/v1/workspaces/acme/templates/help", headers=owner,
                             json={"text": "Write: ORDER-ID refill. Hi {name}!"})
    assert r.status_code == 200 and r.json()["customized"]
    assert (await stack.http.put("/api/v1/workspaces/acme/templates/nope", headers=owner,
                                 json={"text": "x"})).status_code == 422
    assert (await stack.http.put("/api/v1/workspaces/acme/templates/help", headers=agent,
                                 json={"text": "x"})).status_code == 403
    stack.tg.user_says(TG_TOKEN, 77, "help")
    sent = await eventually(lambda: stack.tg.sent(TG_TOKEN, 77))
    assert sent[0]["text"] == "Write: ORDER-ID refill. Hi {name}!"
    chats = (await stack.http.get("/api/v1/workspaces/acme/chats", headers=agent)).json()
    assert chats[0]["chat_id"] == "77" and chats[0]["role"] == "unknown"
    r = await stack.http.patch(f"/api/v1/workspaces/acme/chats/{chats[0]['id']}", headers=owner,
                               json={"role": "customer"})
    assert r.json()["role"] == "customer"
    assert (await stack.http.patch(f"/api/v1/workspaces/acme/chats/{chats[0]['id']}",
                                   headers=owner, json={"role": "boss"})).status_code == 422
    messages = (await stack.http.get("/api/v1/workspaces/acme/messages", headers=agent,
                                     params={"chat_id": "77"})).json()
    assert messages[0]["text"] == "help" and messages[0]["outcome"] == "help"

    async def sent_row() -> dict | None:
        rows = (await stack.http.get("/api/v1/workspaces/acme/outbox", headers=agent)).json()
        return rows[0] if rows and rows[0]["status"] == "sent" else None

    row = await eventually(sent_row)
    detail = (await stack.http.get(f"/api/v1/workspaces/acme/outbox/{row['id']}",
                                   headers=agent)).json()
    assert detail["attempt_log"][0]["ok"] is True
    r = await stack.http.post(f"/api/v1/workspaces/acme/outbox/{row['id']}/retry",
                              headers=owner)
    assert r.status_code == 409  # only failed messages
    reset = await stack.http.delete("/api/v1/workspaces/acme/templates/help", headers=owner)
    assert reset.status_code == 204
    health = await stack.http.get("/readyz")
    assert health.json()["checks"]["spine"]["ok"] is True


async def test_channels_section_in_workspace_files(stack: Stack) -> None:
    text = f"""\
workspace:
  slug: acme
  name: Acme
channels:
  - key: bot
    type: telegram
    mode: webhook
    token: ${{TG}}
  - key: wa
    type: greenapi
    mode: polling
    id_instance: "{GREEN_ID}"
    api_token: ${{GREEN}}
templates:
  help: Send ORDER-ID refill
"""
    env = {"TG": TG_TOKEN, "GREEN": GREEN_TOKEN}
    first = await apply_file(stack.ctx, text, env=env)
    assert "channel bot created" in first.changes and "channel bot connected" in first.changes
    assert "template help set" in first.changes
    assert stack.tg.webhook_info(TG_TOKEN)["url"].startswith(stack.url)
    again = await apply_file(stack.ctx, text, env=env)
    assert again.changes == []
    exported, secrets = await export_workspace(stack.ctx, "acme")
    assert TG_TOKEN not in exported and "${PANELPILOT_ACME_CHANNEL_BOT_TOKEN}" in exported
    assert (await apply_file(stack.ctx, exported, env=secrets)).changes == []
    # the file without the WhatsApp channel (and without the templates section after it)
    removed = await apply_file(stack.ctx, text.split("  - key: wa")[0], env=env)
    assert removed.changes == ["channel wa removed", "template help reset to the default"]
    # without any channel: the bot's webhook goes with it
    gone = await apply_file(stack.ctx, text.split("channels:")[0], env=env)
    assert gone.changes == ["channel bot removed", "channel bot: webhook removed"]
    assert stack.tg.webhook_info(TG_TOKEN)["url"] == ""


async def test_removing_a_channel_stops_its_webhook_where_it_still_points(stack: Stack) -> None:
    owner = await _auth(stack)
    base = "/api/v1/workspaces/acme/channels"
    bot = (await stack.http.put(f"{base}/bot", headers=owner, json={
        "type": "telegram", "mode": "webhook", "token": TG_TOKEN})).json()
    wa = (await stack.http.put(f"{base}/wa", headers=owner, json={
        "type": "greenapi", "mode": "webhook", "id_instance": GREEN_ID,
        "api_token": GREEN_TOKEN})).json()
    assert stack.green.settings(GREEN_ID)["webhookUrl"] == wa["webhook_url"]
    # The same bot set up again as another channel: the webhook now points there, and
    # removing the first channel leaves it alone.
    again = (await stack.http.put(f"{base}/again", headers=owner, json={
        "type": "telegram", "mode": "webhook", "token": TG_TOKEN})).json()
    assert again["webhook_url"] != bot["webhook_url"]
    assert (await stack.http.delete(f"{base}/bot", headers=owner)).status_code == 204
    assert stack.tg.webhook_info(TG_TOKEN)["url"] == again["webhook_url"]
    assert (await stack.http.delete(f"{base}/again", headers=owner)).status_code == 204
    assert stack.tg.webhook_info(TG_TOKEN)["url"] == ""
    assert (await stack.http.delete(f"{base}/wa", headers=owner)).status_code == 204
    assert stack.green.settings(GREEN_ID)["webhookUrl"] == ""
