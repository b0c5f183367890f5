"""panelpilot benchmark: one command, figures printed, nothing asserted.

    .venv/bin/python bench/run.py                 # SQLite and PostgreSQL, full size
    .venv/bin/python bench/run.py --db sqlite --quick

Measures, per database:
1. webhook ingest: throughput and ack latency (p50, p99) under concurrent load (wrk), beside a
   bare FastAPI endpoint that only parses the same update, in the same run;
2. end-to-end latency from a customer's message (sent by the Telegram simulator as a webhook)
   to the bot's answer arriving at the simulator, at a steady 200 messages/s;
3. the achieved send rate of N queued messages against the simulator's 30 messages/s limit,
   with the count of 429s, duplicates and losses;
4. memory and idle CPU of one worker process holding 1,000 Telegram bots in polling mode.
Needs `wrk` (Debian package `wrk`) for part 1 and, for PostgreSQL, the local server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from panelpilot.context import Context  # noqa: E402
from panelpilot.db.engine import Database  # noqa: E402
from panelpilot.db.migrate import upgrade  # noqa: E402
from panelpilot.settings import Settings  # noqa: E402
from panelpilot.sim.server import LoopbackServer  # noqa: E402
from panelpilot.sim.telegram import Limits, TelegramSim  # noqa: E402

KEY = "bench-secret-key-0123456789abcdef"
PG_ADMIN = os.environ.get("PANELPILOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
UPDATE = ('{"update_id": %d, "message": {"message_id": %d, "date": 1700000000, '
          '"text": "2274209 refill", "chat": {"id": %d, "type": "private", "first_name": "Ann"}, '
          '"from": {"id": %d, "is_bot": false, "first_name": "Ann"}}}')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _remove_database_files(folder: Path) -> None:
    # Each part starts from an empty database (an earlier part's backlog would be measured).
    for leftover in folder.glob("bench.db*"):
        leftover.unlink()


async def fresh_database(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        _remove_database_files(folder)
        url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    else:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        admin = Database.unpooled(PG_ADMIN)
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text('DROP DATABASE IF EXISTS "pp_bench" WITH (FORCE)'))
            await conn.execute(text('CREATE DATABASE "pp_bench"'))
        await admin.dispose()
        url = make_url(PG_ADMIN).set(database="pp_bench").render_as_string(hide_password=False)
    db = Database.unpooled(url)
    await upgrade(db)
    await db.dispose()
    return url


def env_for(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANELPILOT_")}
    env.update(PANELPILOT_DATABASE_URL=url, PANELPILOT_SECRET_KEY=KEY,
               PANELPILOT_LOG_LEVEL="WARNING", PANELPILOT_ENV="production",
               PANELPILOT_LOG_FORMAT="text", **extra)
    return env


LOGS = Path(tempfile.mkdtemp(prefix="panelpilot-bench-"))


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Logs go to a file: an unread pipe fills up and freezes the process being measured.
    log = (LOGS / f"{args[0]}-{time.monotonic_ns()}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "panelpilot", *args], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=log)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as c:
        while time.monotonic() < deadline:
            try:
                if (await c.get(url, timeout=1)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def make_workspace(url: str, settings: dict[str, Any] | None = None) -> tuple[Context, int]:
    from panelpilot.tenancy.service import create_workspace

    ctx = Context.from_settings(Settings(database_url=url, secret_key=KEY, **(settings or {})))
    async with ctx.db.platform_session() as s:
        ws = await create_workspace(s, slug=f"bench-{secrets.token_hex(3)}", name="Bench")
    return ctx, ws.id


async def add_bot(ctx: Context, ws: int, key: str, token: str, mode: str) -> tuple[int, str, str]:
    from panelpilot.channels.service import creds_of, set_channel

    async with ctx.db.session(ws) as s:
        ch, _ = await set_channel(s, ctx.keyring, ws, key=key, kind="telegram", mode=mode,
                                  fields={"token": token})
        creds = creds_of(ctx.keyring, ch)
    return creds.id, creds.public_id, creds.hook_secret or ""


# --- 1. ingest ------------------------------------------------------------------------------

LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = string.format('%s', counter, counter, 1000 + counter %% 5000, counter)
  return wrk.format("POST", "%s", {["Content-Type"] = "application/json",
    ["X-Telegram-Bot-Api-Secret-Token"] = "%s"}, body)
end
"""


def wrk(url: str, path: str, secret: str, seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA % (UPDATE.replace('"', '\\"'), path, secret))
        script = f.name
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", script, url], capture_output=True, text=True, check=True).stdout
    os.unlink(script)

    def ms(value: str, unit: str) -> float:
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {int(p): ms(v, u) for p, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat.get(50, float("nan")), "p99": lat.get(99, float("nan")),
            "errors": float(errors.group(1)) if errors else 0.0}


async def bench_ingest(url: str, seconds: int) -> None:
    ctx, ws = await make_workspace(url)
    token = "111111:AAingestingestingestingestingest00"
    _, public_id, secret = await add_bot(ctx, ws, "ingest", token, "webhook")
    await ctx.close()
    path = f"/hooks/telegram/{public_id}"
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.bare:app", "--port",
                             str(port), "--log-level", "warning", "--no-access-log"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await wait_http(f"http://127.0.0.1:{port}/docs")
    base = wrk(f"http://127.0.0.1:{port}", path, secret, seconds, 32)
    stop(bare)
    port = free_port()
    web = spawn(["serve", "--no-workers", "--port", str(port)], env_for(url))
    await wait_http(f"http://127.0.0.1:{port}/healthz")
    ours = wrk(f"http://127.0.0.1:{port}", path, secret, seconds, 32)
    stop(web)
    db = Database.unpooled(url)
    from sqlalchemy import func, select

    from panelpilot.inbox.models import InboundEvent

    async with db.platform_session() as s:
        stored = (await s.execute(select(func.count()).select_from(InboundEvent))).scalar_one()
    await db.dispose()
    print(f"  bare FastAPI parse-only   {base['rps']:8.0f} req/s   ack p50 {base['p50']:6.2f} ms"
          f"   p99 {base['p99']:6.2f} ms")
    print(f"  panelpilot webhook+insert {ours['rps']:8.0f} req/s   ack p50 {ours['p50']:6.2f} ms"
          f"   p99 {ours['p99']:6.2f} ms   ({stored} events stored, {ours['errors']:.0f} non-2xx)")
    print(f"  ingest / bare = {ours['rps'] / base['rps']:.0%}   (target ≥ 50 %)")


# --- 2. end to end --------------------------------------------------------------------------


async def bench_e2e(url: str, rate: int, seconds: int, split: bool, redis: str | None) -> None:
    sim = TelegramSim(limits=Limits.off())
    arrived: dict[int, float] = {}
    original = sim._do_sendMessage

    def record(bot: Any, p: dict[str, Any]) -> Any:
        result = original(bot, p)
        arrived[int(p["chat_id"])] = time.perf_counter()
        return result

    sim._do_sendMessage = record  # type: ignore[method-assign]
    server = LoopbackServer(sim.app)
    await server.start()
    port = free_port()
    ctx, ws = await make_workspace(url, {"telegram_api_url": server.url,
                                         "public_url": f"http://127.0.0.1:{port}"})
    bots = [f"{900000 + i}:AAe2e{i:02d}e2ee2ee2ee2ee2ee2ee2ee2e" for i in range(10)]
    channel_ids = []
    for i, token in enumerate(bots):
        sim.add_bot(token)
        channel_ids.append((await add_bot(ctx, ws, f"e2e{i}", token, "webhook"))[0])
    env = env_for(url, PANELPILOT_TELEGRAM_API_URL=server.url,
                  PANELPILOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
                  PANELPILOT_TELEGRAM_CHAT_RATE="1000", PANELPILOT_TELEGRAM_BOT_RATE="1000")
    if redis:
        env["PANELPILOT_REDIS_URL"] = redis
    if split:  # the scale-out shape: a web node and a worker node
        procs = [spawn(["serve", "--no-workers", "--port", str(port)], env),
                 spawn(["worker"], env)]
    else:  # embedded: one process runs the web app and the workers
        procs = [spawn(["serve", "--port", str(port)], env)]
    await wait_http(f"http://127.0.0.1:{port}/healthz")
    from panelpilot.channels.service import connect

    for channel_id in channel_ids:
        await connect(ctx, channel_id)
    # Warm up first, as a running server is: the first messages compile statements and fill
    # caches. The measured run starts once every warm-up message was answered.
    for n in range(20):
        sim.user_says(bots[n % len(bots)], 400000 + n, "help")
        await asyncio.sleep(0.05)
    deadline = time.perf_counter() + 60
    while len(arrived) < 20 and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    arrived.clear()
    said: dict[int, float] = {}
    total = rate * seconds
    cpu_before = sum(proc_stats(p.pid)[1] for p in procs)
    started = time.perf_counter()
    for n in range(total):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        chat = 500000 + n
        said[chat] = time.perf_counter()
        sim.user_says(bots[n % len(bots)], chat, "help")
    deadline = time.perf_counter() + 30
    while len(arrived) < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    cpu_after = sum(proc_stats(p.pid)[1] for p in procs)
    for proc in procs:
        stop(proc)
    stages = await stage_timings(ctx)
    await ctx.close()
    sim.close()
    await server.stop()
    latencies = [(arrived[c] - said[c]) * 1000 for c in said if c in arrived]
    answered_at = sorted(arrived[c] for c in said if c in arrived)
    span = answered_at[-1] - min(said.values()) if answered_at else 0.0
    throughput = len(answered_at) / span if span > 0 else 0.0
    print(f"  {total} messages at {rate}/s: answered {len(latencies)} "
          f"(sustained {throughput:.0f} msg/s), "
          f"latency p50 {pct(latencies, 50):.1f} ms, p99 {pct(latencies, 99):.1f} ms, "
          f"mean {statistics.fmean(latencies) if latencies else float('nan'):.1f} ms "
          "(target p99 ≤ 50 ms)")
    print(f"  {'web + worker processes' if split else 'one serve process'}: CPU "
          f"{(cpu_after - cpu_before) / max(1, len(latencies)) * 1000:.2f} ms per message")
    print("  stages from the rows, p50 / p99 ms: " + ", ".join(
        f"{name} {pct(values, 50):.1f} / {pct(values, 99):.1f}" for name, values in stages.items()))


async def stage_timings(ctx: Context) -> dict[str, list[float]]:
    """Where a measured message spent its time, from the timestamps its rows keep: received
    → claimed (the wait for the ingest commit and the claim) → done marked (the turn, up to
    its shared commit) → sent (that commit, the handover and the send)."""
    from sqlalchemy import select

    from panelpilot.inbox.models import InboundEvent
    from panelpilot.outbox.models import OutboundMessage

    event, reply = InboundEvent, OutboundMessage
    query = (select(event.received_at, event.started_at, event.processed_at, reply.created_at,
                    reply.sent_at)
             .join(reply, reply.source_event_id == event.id)
             .where(event.chat_id >= "500000", reply.sent_at.is_not(None)))
    stages: dict[str, list[float]] = {"claim": [], "turn": [], "send": []}
    async with ctx.db.platform_session() as s:
        for received, started, processed, created, sent in await s.execute(query):
            if started is None or processed is None or sent is None:
                continue
            stages["claim"].append((started - received).total_seconds() * 1000)
            stages["turn"].append((max(processed, created) - started).total_seconds() * 1000)
            stages["send"].append((sent - max(processed, created)).total_seconds() * 1000)
    return stages


# --- 3. send rate ---------------------------------------------------------------------------


async def bench_send(url: str, count: int) -> None:
    from panelpilot.outbox.enqueue import enqueue

    sim = TelegramSim()  # the real limits: 30/s per bot, 1/s per private chat
    times: list[float] = []
    original = sim._do_sendMessage

    def record(bot: Any, p: dict[str, Any]) -> Any:
        result = original(bot, p)
        times.append(time.perf_counter())
        return result

    sim._do_sendMessage = record  # type: ignore[method-assign]
    server = LoopbackServer(sim.app)
    await server.start()
    token = "800000:AAsendsendsendsendsendsendsendsend00"
    sim.add_bot(token)
    ctx, ws = await make_workspace(url, {"telegram_api_url": server.url})
    channel_id, _, _ = await add_bot(ctx, ws, "sender", token, "polling")
    texts = [f"announcement {i}" for i in range(count)]
    async with ctx.db.session(ws) as s:
        for i, text in enumerate(texts):
            await enqueue(s, ws, channel_id=channel_id, kind="telegram",
                          chat_id=str(10_000 + i % max(1, count // 5)), text=text, key=f"b{i}",
                          purpose="broadcast")
    await ctx.close()
    worker = spawn(["worker"], env_for(url, PANELPILOT_TELEGRAM_API_URL=server.url,
                                       PANELPILOT_OUTBOX_POLL_INTERVAL="0.05"))
    deadline = time.perf_counter() + count / 25 + 60
    while len(times) < count and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    stop(worker)
    sent = Counter(m["text"] for m in sim.sent(token))
    duplicates = sum(n - 1 for n in sent.values() if n > 1)
    lost = len(set(texts) - set(sent))
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    sim.close()
    await server.stop()
    print(f"  {count} queued messages: {rate:.2f} msg/s = {rate / 30:.1%} of the 30/s limit, "
          f"429s {sim.rate_limited}, duplicates {duplicates}, lost {lost} "
          "(target ≥ 97 %, 0, 0, 0)")


# --- 4. polling bots ------------------------------------------------------------------------


def proc_stats(pid: int) -> tuple[int, float]:
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss_kb, cpu


async def bench_polling(url: str, bots: int, idle_seconds: int) -> None:
    sim = TelegramSim(limits=Limits.off())
    server = LoopbackServer(sim.app)
    await server.start()
    ctx, ws = await make_workspace(url, {"telegram_api_url": server.url})
    from panelpilot.channels.service import set_channel

    async with ctx.db.session(ws) as s:
        for i in range(bots):
            token = f"{1_000_000 + i}:AApollpollpollpollpollpollpollpoll"
            sim.add_bot(token)
            await set_channel(s, ctx.keyring, ws, key=f"p{i}", kind="telegram", mode="polling",
                              fields={"token": token})
    await ctx.close()
    worker = spawn(["worker"], env_for(url, PANELPILOT_TELEGRAM_API_URL=server.url))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        polling = sum(1 for b in sim._bots.values() if getattr(b, "pollers", 0)) \
            if hasattr(next(iter(sim._bots.values())), "pollers") else None
        if sim.calls["getUpdates"] >= bots and (polling is None or polling >= bots):
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)
    rss_before, cpu_before = proc_stats(worker.pid)
    await asyncio.sleep(idle_seconds)
    rss, cpu_after = proc_stats(worker.pid)
    polls = sim.calls["getUpdates"]
    stop(worker)
    sim.close()
    await server.stop()
    cpu = (cpu_after - cpu_before) / idle_seconds
    print(f"  {bots} bots polling: worker RSS {rss / 1024:.0f} MB, idle CPU {cpu:.1%} of a core "
          f"over {idle_seconds} s, {polls} getUpdates calls so far (target ≤ 300 MB)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="smaller runs (a few minutes)")
    parser.add_argument("--only", choices=["ingest", "e2e", "send", "polling"], default=None)
    parser.add_argument("--rate", type=int, default=200,
                        help="messages per second for the end-to-end part (default 200)")
    parser.add_argument("--split", action="store_true",
                        help="end to end with a web process and a worker process")
    parser.add_argument("--redis", metavar="URL",
                        help="end to end with the rate buckets in this Redis")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if shutil.which("wrk") is None and args.only in (None, "ingest"):
        print("wrk is not installed (apt-get install wrk): skipping the ingest part")
    print(f"panelpilot bench on {os.cpu_count()} cores (process logs in {LOGS})")
    for kind in kinds:
        print(f"\n== {kind}")
        with tempfile.TemporaryDirectory() as folder:
            parts = {
                "ingest": lambda u: bench_ingest(u, 5 if args.quick else 15),
                "e2e": lambda u: bench_e2e(u, args.rate, 5 if args.quick else 15, args.split,
                                             args.redis),
                "send": lambda u: bench_send(u, 600 if args.quick else 5000),
                "polling": lambda u: bench_polling(u, 1000, 5 if args.quick else 15),
            }
            for name, part in parts.items():
                if args.only not in (None, name):
                    continue
                if name == "ingest" and shutil.which("wrk") is None:
                    continue
                print(f"- {name}")
                await part(await fresh_database(kind, Path(folder)))


if __name__ == "__main__":
    asyncio.run(main())
