"""``panelpilot demo``: panelpilot with every outside system simulated, on one machine.

It starts the Telegram, Green API, Meta and Perfect Panel simulators on loopback ports, a
SQLite database of its own, a demo workspace wired to them, and panelpilot itself (web app and
workers). Then it plays a customer: types a message into the simulated Telegram and prints the
bot's answer, and says how to do the same by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

from panelpilot.settings import Settings

DEMO_TOKEN = "700000001:AAdemoDemoDemoDemoDemoDemoDemoDemo0"
GREEN_ID, GREEN_TOKEN = "7700000001", "demo0green0api0token0000000000000000000000000000000"
CUSTOMER = 100200300
PROVIDER_GROUP = -1001234567890


@dataclass
class Demo:
    ctx: Any
    url: str
    sims: dict[str, str]
    tg: Any
    servers: list[Any]
    workspace_id: int
    admin_email: str
    admin_password: str
    api_token: str


async def start(port: int, database: Path | None) -> Demo:
    from panelpilot.channels.service import connect, set_channel
    from panelpilot.context import Context
    from panelpilot.db.migrate import upgrade
    from panelpilot.panels.service import set_connection
    from panelpilot.sim.greenapi import GreenApiSim
    from panelpilot.sim.meta import MetaSim
    from panelpilot.sim.perfectpanel import PerfectPanelSim
    from panelpilot.sim.server import LoopbackServer
    from panelpilot.sim.telegram import TelegramSim
    from panelpilot.tenancy.service import add_member, create_token, create_user, create_workspace
    from panelpilot.web.app import create_app
    from panelpilot.worker import attach_workers

    tg = TelegramSim()
    tg.add_bot(DEMO_TOKEN, username="panelpilot_demo_bot")
    green = GreenApiSim()
    green.add_instance(GREEN_ID, GREEN_TOKEN)
    meta = MetaSim()
    panel = PerfectPanelSim(seed=True)
    sim_servers = {name: LoopbackServer(app) for name, app in
                   (("telegram", tg.app), ("greenapi", green.app), ("meta", meta.app),
                    ("panel", panel.app))}
    for server in sim_servers.values():
        await server.start()
    folder = Path(tempfile.mkdtemp(prefix="panelpilot-demo-"))
    db_path = database or folder / "demo.db"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db_path}", secret_key=secrets.token_urlsafe(32),
        public_url=f"http://127.0.0.1:{port}",
        telegram_api_url=sim_servers["telegram"].url, greenapi_url=sim_servers["greenapi"].url,
        meta_graph_url=sim_servers["meta"].url, inbox_poll_interval=0.05,
        outbox_poll_interval=0.05, secret_key_file=folder / "key")
    ctx = Context.from_settings(settings)
    await upgrade(ctx.db)
    password = secrets.token_urlsafe(12)
    async with ctx.db.platform_session() as s:
        ws = await create_workspace(s, slug="demo", name="Demo SMM Panel", plan="demo")
        await create_user(s, email="admin@demo.local", password=password, name="Demo admin",
                          platform_owner=True)
    async with ctx.db.session(ws.id) as s:
        await add_member(s, ws.id, email="owner@demo.local", role="owner", password=password)
        token = (await create_token(s, ws.id, name="demo", role="owner")).plaintext
        await set_connection(s, ctx.keyring, ws.id, panel_type="perfectpanel",
                             url=sim_servers["panel"].url, api_key=panel.admin_key,
                             user_api_key=panel.user_key)
        bot, _ = await set_channel(s, ctx.keyring, ws.id, key="telegram-bot", kind="telegram",
                                   mode="webhook", fields={"token": DEMO_TOKEN})
        wa, _ = await set_channel(s, ctx.keyring, ws.id, key="whatsapp", kind="greenapi",
                                  mode="webhook",
                                  fields={"id_instance": GREEN_ID, "api_token": GREEN_TOKEN})
        bot_id, wa_id = bot.id, wa.id
    await _seed_orders(ctx, ws.id, sim_servers["panel"].url, bot_id)
    web_app = create_app(ctx)
    attach_workers(web_app, ctx)
    web = LoopbackServer(web_app, port=port)
    await web.start()
    for channel_id in (bot_id, wa_id):
        await connect(ctx, channel_id)
    return Demo(ctx=ctx, url=web.url, sims={k: v.url for k, v in sim_servers.items()}, tg=tg,
                servers=[web, *sim_servers.values()], workspace_id=ws.id,
                admin_email="admin@demo.local", admin_password=password, api_token=token)


async def _seed_orders(ctx: Any, workspace_id: int, panel_url: str, bot_id: int) -> None:
    """Order support, when that module is installed: routes, a linked customer, rules."""
    try:
        from panelpilot.orders.demo import seed_demo_workspace
    except ImportError:
        return
    await seed_demo_workspace(ctx, workspace_id, panel_url=panel_url,
                              provider_channel_id=bot_id, provider_chat_id=str(PROVIDER_GROUP),
                              customer_channel_id=bot_id, customer_chat_id=str(CUSTOMER))


async def converse(demo: Demo, text: str, within: float = 10.0) -> list[str]:
    """Type ``text`` as the demo customer; return the bot's answers."""
    before = len(demo.tg.sent(DEMO_TOKEN, CUSTOMER))
    demo.tg.user_says(DEMO_TOKEN, CUSTOMER, text, first_name="Demo", username="demo_customer")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        sent = demo.tg.sent(DEMO_TOKEN, CUSTOMER)
        if len(sent) > before:
            await asyncio.sleep(0.3)  # a bulk answer may come in parts
            return [m["text"] for m in demo.tg.sent(DEMO_TOKEN, CUSTOMER)[before:]]
        await asyncio.sleep(0.05)
    return []


async def stop(demo: Demo) -> None:
    for server in demo.servers:
        with contextlib.suppress(Exception):
            await server.stop()
    await demo.ctx.close()


def _print_guide(demo: Demo) -> None:
    tg = demo.sims["telegram"]
    typer.echo(f"""
panelpilot demo is running.

  Console       {demo.url}/   (log in as {demo.admin_email} / {demo.admin_password})
  API           {demo.url}/api/docs   (token: {demo.api_token})
  Health        {demo.url}/readyz

Simulated outside systems (real HTTP servers on this machine):
  Telegram Bot API  {tg}
  Green API         {demo.sims['greenapi']}
  Meta Graph API    {demo.sims['meta']}
  Perfect Panel     {demo.sims['panel']}

Be a customer yourself:
  curl -s -X POST {tg}/_sim/say -H 'content-type: application/json' \\
       -d '{{"token": "{DEMO_TOKEN}", "chat_id": {CUSTOMER}, "text": "2274209 refill"}}'
  curl -s '{tg}/_sim/sent?token={DEMO_TOKEN}&chat_id={CUSTOMER}'
  curl -s '{tg}/_sim/sent?token={DEMO_TOKEN}&chat_id={PROVIDER_GROUP}'   # the provider group

Press Ctrl+C to stop.""")


async def run(port: int, once: bool, database: Path | None) -> int:
    demo = await start(port, database)
    try:
        for text in ("help", "2274209 refill"):
            answers = await converse(demo, text)
            typer.echo(f"→ customer says: {text}")
            for answer in answers:
                typer.echo("← bot answers: " + answer.replace("\n", "\n                 "))
            if not answers:
                typer.echo("← (silence)")
        provider = demo.tg.sent(DEMO_TOKEN, PROVIDER_GROUP)
        for message in provider:
            typer.echo(f"⇢ provider group receives: {message['text']}")
        if once:
            return 0 if demo.tg.sent(DEMO_TOKEN, CUSTOMER) else 1
        _print_guide(demo)
        stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_event.set)
        await stop_event.wait()
        return 0
    finally:
        await stop(demo)


def check_port(port: int) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
        raise typer.BadParameter(f"port {port} is in use; pick another with --port")
