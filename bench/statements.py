"""Count what one message costs the database on the hot path: transactions and statements.

    .venv/bin/python bench/statements.py [--db sqlite|postgresql] [--messages 200]

Runs the spine in this process (ingest, inbox worker, sender) against the Telegram simulator,
with every customer writing "help" from a chat of their own (the end-to-end bench's load), and
prints, per message: transactions, statements by kind, and this process's CPU time. A
development tool for the hot path; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from bench.run import add_bot, fresh_database, make_workspace  # noqa: E402
from panelpilot.channels.base import RawEvent  # noqa: E402
from panelpilot.channels.service import load_creds  # noqa: E402
from panelpilot.db import fast  # noqa: E402
from panelpilot.inbox.ingest import store  # noqa: E402
from panelpilot.sim.server import LoopbackServer  # noqa: E402
from panelpilot.sim.telegram import Limits, TelegramSim  # noqa: E402
from panelpilot.worker import run_loops  # noqa: E402


def _shape(sql: str) -> str:
    words = re.sub(r"\s+", " ", sql).strip()
    match = re.match(r"(SELECT \S+.*?FROM \S+|INSERT INTO \S+|UPDATE \S+|DELETE FROM \S+"
                     r"|BEGIN\S*( \S+)?|COMMIT|ROLLBACK|\S+)", words, re.IGNORECASE)
    return match.group(0)[:70] if match else words[:70]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--profile", metavar="FILE",
                        help="write a cProfile of the measured part to FILE (pstats format)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = await fresh_database(args.db, Path(folder))
        sim = TelegramSim(limits=Limits.off())
        server = LoopbackServer(sim.app)
        await server.start()
        ctx, ws = await make_workspace(url, {"telegram_api_url": server.url,
                                             "telegram_chat_rate": 1000.0,
                                             "telegram_bot_rate": 1000.0})
        token = "700000:AAstatsstatsstatsstatsstatsstats00"
        sim.add_bot(token)
        channel_id, _, _ = await add_bot(ctx, ws, "stats", token, "polling")
        creds = await load_creds(ctx, channel_id=channel_id)
        assert creds is not None
        statements: Counter[str] = Counter()

        @event.listens_for(ctx.db.engine.sync_engine, "before_cursor_execute")
        def count(conn: Any, cursor: Any, sql: str, *rest: Any) -> None:
            statements[_shape(sql)] += 1

        # The hot path's statements go to the driver directly (db.fast), past that event.
        fast.on_statement = lambda sql: count(None, None, sql)

        stop = asyncio.Event()
        workers = asyncio.create_task(run_loops(ctx, stop, 8))

        async def say(n: int, chat: int) -> None:
            update = {"update_id": n, "message": {
                "message_id": n, "date": int(time.time()), "text": "help",
                "chat": {"id": chat, "type": "private", "first_name": "Ann"},
                "from": {"id": chat, "is_bot": False, "first_name": "Ann"}}}
            await store(ctx, creds, [RawEvent(str(n), update)])

        for n in range(20):  # warm up: compile statements, fill caches
            await say(n + 1, 10_000 + n)
        while len(sim.sent(token)) < 20:
            await asyncio.sleep(0.01)
        statements.clear()
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        cpu, started = time.process_time(), time.perf_counter()
        for n in range(args.messages):
            await say(1000 + n, 20_000 + n)
            await asyncio.sleep(0.005)
        while len(sim.sent(token)) < 20 + args.messages:
            await asyncio.sleep(0.01)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        stop.set()
        await workers
        await ctx.close()
        sim.close()
        await server.stop()
    per = args.messages
    begins = sum(v for k, v in statements.items() if k.upper().startswith("BEGIN"))
    print(f"{args.messages} messages on {args.db}: {cpu / per * 1000:.2f} ms CPU each "
          f"(this process, simulator included), {wall:.1f} s")
    print(f"  per message: {sum(statements.values()) / per:.1f} statements, "
          f"{begins / per:.2f} explicit BEGINs")
    for shape, n in statements.most_common():
        print(f"  {n / per:6.2f}  {shape}")


if __name__ == "__main__":
    asyncio.run(main())
