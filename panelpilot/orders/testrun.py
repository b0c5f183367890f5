"""Test runs: a command sent from the console's test console (or the API) as a linked customer or
as a support chat, through the real pipeline (``admin.dry_run``: real grammar, real panel
lookup, real checks; no cooldown claimed, nothing dispatched), kept in ``order_test_runs``.

A run passes when the text was read as an order command, the panel answered, at least one
order was allowed and a command would go to a provider group: then the workspace is set up
end to end, which is the last step of the setup checklist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.models import ChannelAccount
from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.errors import Invalid, NotFound
from panelpilot.orders import admin, linking
from panelpilot.orders.models import OrderTestRun

MAX_TEXT = 4000

# The checks of one order in the order the workflow makes them (``workflow._verdict``): the
# verdict names the first that failed, so the ones before it passed and the rest never ran.
CHECK_LABELS = {
    "found": "Order found in the panel",
    "owner": "Belongs to the customer",
    "eligible": "Allowed for this action (status, start time, refill policy and window)",
    "cooldown": "Not asked for too recently (cooldown)",
    "external_id": "Placed with a provider (has an external id)",
    "route": "A provider route with a group",
    "status": "Status answer",
}
_FAILS_AT = {
    "not_found": "found",
    "not_yours": "owner",
    "not_eligible": "eligible",
    "too_early": "eligible",
    "cooldown": "cooldown",
    "provider_missing": "external_id",
    "route_missing": "route",
}
ACTION_CHECKS = ["found", "owner", "eligible", "cooldown", "external_id", "route"]
STATUS_CHECKS = ["found", "owner", "status"]

KIND_NOTES = {
    "help": "This is the help command: the bot answers with the “help” template.",
    "balance": "This asks for the customer's balance: the bot answers with the panel's "
               "balance. The test console runs order commands such as “2274209 refill”.",
    "link": "This is a link command: customers link their chat with a one-time code, support "
            "chats link others. The test console runs order commands.",
    "unlink": "This is an unlink command. The test console runs order commands.",
    "code": "This looks like a one-time link code. The test console runs order commands.",
    "too_many": "More order ids than the workspace allows in one message: the bot answers "
                "with the “too many ids” template.",
    "unrecognized": "Not a command: in strict mode (the default) the bot stays silent and the "
                    "text goes to the failed-commands report.",
}


def check_input(text: str, username: str | None) -> tuple[str, str | None]:
    """The text and username of a run as the pipeline will get them; Invalid names the field."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise Invalid("type a command, for example 2274209 refill", field="text")
    if len(text) > MAX_TEXT:
        raise Invalid(f"a command is at most {MAX_TEXT} characters", field="text")
    if username is not None:
        username = linking.check_username(username)
    return text, username


def order_checks(verdict: dict[str, Any], action: str | None,
                 username: str | None) -> list[dict[str, str]]:
    """Each check of one order: ``state`` pass, fail, warn or skip (not reached), and why."""
    names = STATUS_CHECKS if action == "status" else ACTION_CHECKS
    failed_at = _FAILS_AT.get(str(verdict.get("verdict")))
    detail = str(verdict.get("detail") or "")
    reason = str(verdict.get("reason") or "")
    out: list[dict[str, str]] = []
    reached = True
    for name in names:
        if not reached:
            out.append({"check": name, "label": CHECK_LABELS[name], "state": "skip",
                        "reason": "not checked: an earlier check decided"})
            continue
        if name == failed_at:
            text = detail + (f" (the customer reads: {reason})" if reason else "")
            out.append({"check": name, "label": CHECK_LABELS[name], "state": "fail",
                        "reason": text or verdict.get("verdict", "")})
            reached = False
            continue
        state, why = "pass", _pass_reason(name, verdict, username)
        if name == "route" and verdict.get("fallback"):
            state = "warn"
        out.append({"check": name, "label": CHECK_LABELS[name], "state": state, "reason": why})
    return out


def _pass_reason(name: str, verdict: dict[str, Any], username: str | None) -> str:
    if name == "found":
        status = verdict.get("status")
        return f"status {status}" if status else "the panel knows it"
    if name == "owner":
        return (f"the panel says the order is {username}'s" if username
                else "a support chat may act on any order")
    if name == "eligible":
        detail = str(verdict.get("detail") or "")
        # A sent verdict's detail is "route X; why it was allowed" (other verdicts' details
        # are about the check that failed later).
        allowed = ""
        if verdict.get("verdict") == "sent" and detail.startswith("route ") and "; " in detail:
            allowed = detail.split("; ", 1)[1]
        return allowed or "the order's status and its service's rules allow it"
    if name == "cooldown":
        return "no cooldown is running for this order and action (the test takes none)"
    if name == "external_id":
        ext = verdict.get("external_id")
        return f"external id {ext}" if ext else "the order has an external id"
    if name == "route":
        if verdict.get("fallback"):
            return str(verdict.get("detail") or "no route: the fallback support group")
        provider = verdict.get("provider") or "?"
        detail = str(verdict.get("detail") or "")
        route = detail.split(";")[0].removeprefix("route ") if detail.startswith("route ") \
            else ""
        return f"provider {provider} goes to route {route}" if route else f"provider {provider}"
    return str(verdict.get("detail") or "")


def judge(result: dict[str, Any]) -> tuple[bool, str]:
    """Whether a dry run passed, and a one-sentence summary that says what to fix if not."""
    kind = result.get("kind")
    if kind not in ("order_action", "order"):
        note = KIND_NOTES.get(str(kind), "Not an order command.")
        if result.get("suggestion"):
            note += f" Did you mean “{result['suggestion']}”?"
        return False, "Not passed: " + note
    if result.get("api_problem"):
        return False, f"Not passed: the panel could not be asked ({result['api_problem']})."
    verdicts = result.get("verdicts") or []
    action = "status" if kind == "order" else result.get("action")
    allowed = [v for v in verdicts if v.get("verdict") == "sent"]
    to_groups = [d for d in result.get("dispatches") or [] if not d.get("fallback")]
    count = len(verdicts)
    orders = f"{count} order{'s' if count != 1 else ''}"
    if action == "status":
        return False, (f"Not passed: a status question ({orders}) is answered from the panel "
                       "and sends nothing to a provider. Try an action such as refill.")
    if not allowed:
        kinds = sorted({str(v.get("verdict")).replace("_", " ") for v in verdicts})
        return False, (f"Not passed: no order was allowed ({', '.join(kinds) or 'none'}). "
                       "See each order's checks below.")
    if not to_groups:
        return False, ("Not passed: the allowed orders would go to the fallback support group, "
                       "not to a provider group. Map the provider to a group.")
    targets = ", ".join(sorted({str(d.get("route") or "?") for d in to_groups}))
    commands = len(to_groups)
    return True, (f"Passed: {action} for {len(allowed)} of {orders} allowed; "
                  f"{commands} command{'s' if commands != 1 else ''} would go to {targets}.")


def enrich(result: dict[str, Any], username: str | None) -> dict[str, Any]:
    """The dry run with each order's checks added (what the console and the API show)."""
    action = "status" if result.get("kind") == "order" else result.get("action")
    verdicts = []
    for v in result.get("verdicts") or []:
        fallback = any(v.get("order_id") in (d.get("order_ids") or []) and d.get("fallback")
                       for d in result.get("dispatches") or [])
        v = {**v, "fallback": fallback}
        v["checks"] = order_checks(v, action, username)
        verdicts.append(v)
    return {**result, "verdicts": verdicts, "as_support": username is None}


async def run_test(ctx: Context, workspace_id: int, *, text: str, username: str | None,
                   run_by: str) -> OrderTestRun:
    """Run ``text`` as ``username`` (None: as a support chat) and keep the run."""
    text, username = check_input(text, username)
    raw = await admin.dry_run(ctx, workspace_id, text, username)
    result = enrich(raw, username)
    async with ctx.db.read_session(workspace_id) as session:
        rows = await session.execute(select(ChannelAccount.id, ChannelAccount.key))
        keys = {channel_id: key for channel_id, key in rows.all()}
    for dispatch in result.get("dispatches") or []:
        dispatch["channel"] = keys.get(dispatch.get("channel_id"))
    passed, summary = judge(result)
    async with ctx.db.session(workspace_id) as session:
        row = OrderTestRun(workspace_id=workspace_id, created_at=utcnow(), run_by=run_by[:200],
                           username=username, text=text, passed=passed,
                           summary=summary[:1000], result=result)
        session.add(row)
        await session.flush()
    return row


async def recent_runs(session: AsyncSession, *, limit: int = 20, before: int | None = None,
                      passed: bool | None = None) -> list[OrderTestRun]:
    query = select(OrderTestRun).order_by(OrderTestRun.id.desc()).limit(limit)
    if before is not None:
        query = query.where(OrderTestRun.id < before)
    if passed is not None:
        query = query.where(OrderTestRun.passed.is_(passed))
    return list((await session.execute(query)).scalars())


async def get_run(session: AsyncSession, run_id: int) -> OrderTestRun:
    row = (await session.execute(
        select(OrderTestRun).where(OrderTestRun.id == run_id))).scalar()
    if row is None:
        raise NotFound("no such test run")
    return row


async def last_passed(session: AsyncSession) -> OrderTestRun | None:
    return (await session.execute(
        select(OrderTestRun).where(OrderTestRun.passed.is_(True))
        .order_by(OrderTestRun.id.desc()).limit(1))).scalar()


def as_dict(row: OrderTestRun) -> dict[str, Any]:
    return {"id": row.id, "created_at": row.created_at, "run_by": row.run_by,
            "username": row.username, "text": row.text, "passed": row.passed,
            "summary": row.summary, "result": row.result}
