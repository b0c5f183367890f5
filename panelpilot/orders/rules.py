"""A workspace's order-support rules: cooldowns, id cap, strict mode, refill window, ticket rules.

The rules are one validated document (``OrderRules``) stored per workspace; every field has a
default, so a workspace that never configured anything still gets sensible behaviour.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.orders.grammar import TARGETS
from panelpilot.orders.models import OrderSettings, ServiceOverride
from panelpilot.orders.service_rules import Keywords, RefillPolicy, StartWindow

ACTIONS = ("speed", "cancel", "refill")
DEFAULT_COOLDOWN_MINUTES = {"speed": 120, "cancel": 60, "refill": 1440}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class KeywordRules(_Strict):
    """A workspace's own words for reading service names (see service_rules.Keywords)."""

    refill: list[str] = Field(default_factory=list)
    no_refill: list[str] = Field(default_factory=list)
    lifetime: list[str] = Field(default_factory=list)
    start: list[str] = Field(default_factory=list)
    instant: list[str] = Field(default_factory=list)

    def keywords(self) -> Keywords | None:
        if not any((self.refill, self.no_refill, self.lifetime, self.start, self.instant)):
            return None
        return Keywords(refill=tuple(self.refill), no_refill=tuple(self.no_refill),
                        lifetime=tuple(self.lifetime), start=tuple(self.start),
                        instant=tuple(self.instant))


class TicketRules(_Strict):
    """Which panel tickets become order commands: subject words and the request's wording."""

    enabled: bool = False
    subjects: list[str] = Field(default_factory=lambda: ["Order", "Orders"])
    requests: dict[str, list[str]] = Field(
        default_factory=lambda: {"refill": ["Refill"], "speed": ["Speed up", "Speedup", "Speed"],
                                 "cancel": ["Cancel", "Cancellation"]})
    # The first run looks this far back, so that enabling the rules does not answer a
    # panel's whole ticket history.
    lookback_hours: int = Field(default=24, ge=0, le=24 * 30)

    @field_validator("requests")
    @classmethod
    def _known_actions(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for action in value:
            if action not in ACTIONS:
                raise ValueError(f"requests: {action!r} is not one of {', '.join(ACTIONS)}")
        return value


class OrderRules(_Strict):
    max_ids: int = Field(default=20, ge=1, le=100)
    strict: bool = True  # unrecognized text in customer chats gets silence
    cooldown_minutes: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_COOLDOWN_MINUTES))
    refill_window_from: Literal["creation", "completion"] = "completion"
    partial_refill: bool = False  # partial orders may be refilled like completed ones
    # A start window for services whose name states none ("0-24 hours"); None: unknown, and
    # speed-ups of such orders wait for a service rule.
    default_start: str | None = None
    keywords: KeywordRules = Field(default_factory=KeywordRules)
    tickets: TicketRules = Field(default_factory=TicketRules)

    @field_validator("cooldown_minutes", mode="before")
    @classmethod
    def _one_number_for_all(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return dict.fromkeys(ACTIONS, value)
        if isinstance(value, dict):
            return {**DEFAULT_COOLDOWN_MINUTES, **value}
        return value

    @field_validator("cooldown_minutes")
    @classmethod
    def _not_negative(cls, value: dict[str, int]) -> dict[str, int]:
        for action, minutes in value.items():
            if action not in ACTIONS:
                raise ValueError(f"{action!r} is not one of {', '.join(ACTIONS)}")
            if minutes < 0 or minutes > 60 * 24 * 365:
                raise ValueError(f"cooldown for {action} must be 0..525600 minutes")
        return value

    @field_validator("default_start")
    @classmethod
    def _start_readable(cls, value: str | None) -> str | None:
        if value is not None:
            parse_start(value)
        return value

    def cooldown(self, action: str) -> timedelta:
        return timedelta(minutes=self.cooldown_minutes.get(action, 0))

    @property
    def default_window(self) -> StartWindow | None:
        return parse_start(self.default_start) if self.default_start else None


def check_aliases(aliases: dict[str, str]) -> dict[str, str]:
    """Aliases map a word or phrase (any language) to a command; raises ValueError if bad."""
    out: dict[str, str] = {}
    for word, target in aliases.items():
        word, target = str(word).strip(), str(target).strip().lower()
        if not word or len(word) > 60:
            raise ValueError(f"alias {word!r}: 1..60 characters")
        if target not in TARGETS and target != "commands":
            raise ValueError(f"alias {word!r}: the command is one of "
                             f"{', '.join(sorted(TARGETS | {'commands'}))}")
        out[word] = target
    return out


# --- durations as admins write them ----------------------------------------------------------

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
          "hr": 3600, "hour": 3600, "d": 86400, "day": 86400, "w": 604800, "week": 604800}
_SPAN = re.compile(r"^(\d{1,5})(?:\s*(?:-|to)\s*(\d{1,5}))?\s*([a-z]+?)s?$")


def parse_start(text: str) -> StartWindow:
    """``instant``, ``0-1 hour``, ``30 min``, ``2-3 days`` → a start window (ValueError if not)."""
    value = str(text).strip().lower()
    if value in ("instant", "0", "immediately"):
        return StartWindow(timedelta(0), timedelta(0))
    match = _SPAN.match(value)
    if not match or match.group(3) not in _UNITS:
        raise ValueError(f"start window {text!r}: write e.g. 'instant', '0-1 hour', '30 min'")
    unit = _UNITS[match.group(3)]
    low, high = int(match.group(1)), match.group(2)
    lo, hi = (0, low) if high is None else (low, int(high))
    if hi < lo:
        raise ValueError(f"start window {text!r}: the end comes before the start")
    return StartWindow(timedelta(seconds=lo * unit), timedelta(seconds=hi * unit))


def parse_refill(value: Any) -> RefillPolicy:
    """``30`` / ``30 days`` / ``lifetime`` / ``none`` → a refill policy (ValueError if not)."""
    if isinstance(value, bool):
        raise ValueError("refill: a number of days, 'lifetime' or 'none'")
    if isinstance(value, int):
        days = value
    else:
        text = str(value).strip().lower()
        if text in ("lifetime", "forever"):
            return RefillPolicy.lifetime()
        if text in ("none", "no", "no refill", "0"):
            return RefillPolicy.none()
        match = re.fullmatch(r"(\d{1,4})\s*(d|day|days)?", text)
        if not match:
            raise ValueError(f"refill {value!r}: a number of days, 'lifetime' or 'none'")
        days = int(match.group(1))
    if days <= 0:
        return RefillPolicy.none()
    if days > 3650:
        raise ValueError("refill: at most 3650 days (use 'lifetime')")
    return RefillPolicy.for_days(days)


def describe_start(window: StartWindow) -> str:
    """The window as an admin writes it: ``instant``, ``0-2 hours``, ``30-90 min``."""
    if window.instant:
        return "instant"
    lo, hi = int(window.min.total_seconds()), int(window.max.total_seconds())
    for name, size in (("days", 86400), ("hours", 3600), ("min", 60), ("s", 1)):
        if lo % size == 0 and hi % size == 0 and hi >= size:
            return f"{lo // size}-{hi // size} {name}"
    return f"{lo}-{hi} s"


def describe_refill_value(policy: RefillPolicy) -> str | int:
    if policy.kind == "days" and policy.days is not None:
        return policy.days
    return policy.kind


# --- service overrides ----------------------------------------------------------------------


def override_values(start: str | None, refill: str | int | None, note: str) -> dict[str, Any]:
    window = parse_start(start) if start is not None else None
    policy = parse_refill(refill) if refill is not None else None
    return {
        "start_min_s": int(window.min.total_seconds()) if window else None,
        "start_max_s": int(window.max.total_seconds()) if window else None,
        "refill_kind": policy.kind if policy else None,
        "refill_days": policy.days if policy else None,
        "note": note,
    }


def override_export(row: ServiceOverride) -> dict[str, Any]:
    from panelpilot.orders.workflow import override_of

    rule = override_of(row)
    out: dict[str, Any] = {}
    if rule.start is not None:
        out["start"] = describe_start(rule.start)
    if rule.refill is not None:
        out["refill"] = describe_refill_value(rule.refill)
    if row.note:
        out["note"] = row.note
    return out


# --- loading --------------------------------------------------------------------------------


async def load(session: AsyncSession) -> tuple[OrderRules, dict[str, str], OrderSettings | None]:
    """The workspace's rules and aliases (defaults when never configured)."""
    row = (await session.execute(select(OrderSettings))).scalar()
    if row is None:
        return OrderRules(), {}, None
    try:
        rules = OrderRules.model_validate(row.rules or {})
    except ValueError:
        # A document an older version saved that no longer validates: the defaults keep the
        # bot answering rather than failing every message (the API shows the stored one).
        rules = OrderRules()
    return rules, {str(k): str(v) for k, v in (row.aliases or {}).items()}, row


async def settings_row(session: AsyncSession, workspace_id: int) -> OrderSettings:
    """The settings row, made on first use (in the caller's transaction)."""
    row = (await session.execute(select(OrderSettings))).scalar()
    if row is None:
        from panelpilot.runners.lease import insert_ignore

        await insert_ignore(session, OrderSettings, {
            "workspace_id": workspace_id, "rules": {}, "aliases": {}, "tickets_error": "",
            "services_error": "", "updated_at": _now()})
        row = (await session.execute(select(OrderSettings))).scalar_one()
    return row


def _now() -> Any:
    from panelpilot.db.base import utcnow

    return utcnow()
