"""Jinja2 templates, static file URLs and the security headers of every console page."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import Response

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/static/console"

# No inline script or style anywhere in the console, so the policy can forbid both.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_static_versions: dict[str, str] = {}


def static_url(name: str) -> str:
    """The file's URL with a content hash, so a new release is never served from cache."""
    version = _static_versions.get(name)
    if version is None:
        path = STATIC_DIR / name
        version = hashlib.sha256(path.read_bytes()).hexdigest()[:10] if path.is_file() else "0"
        _static_versions[name] = version
    return f"{STATIC_PREFIX}/{name}?v={version}"


def as_datetime(value: Any) -> datetime | None:
    """A datetime from an ISO string or a datetime; naive ones are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def when(value: Any) -> str:
    """An absolute UTC time, as people read it."""
    moment = as_datetime(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def ago(value: Any, now: datetime | None = None) -> str:
    """"3 minutes ago"; future times read "in 3 days"."""
    moment = as_datetime(value)
    if moment is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = round(seconds / size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "in a minute" if future else "a minute ago"


def iso(value: Any) -> str:
    moment = as_datetime(value)
    return moment.isoformat() if moment else ""


env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.globals["static_url"] = static_url
env.filters["when"] = when
env.filters["ago"] = ago
env.filters["iso"] = iso


def render_text(template: str, values: dict[str, Any]) -> str:
    return env.get_template(template).render(values)


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="text/html; charset=utf-8",
                    headers=headers)


def apply_security_headers(response: Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Pages show masked secrets, tokens once, and per-user menus: never cache them.
    response.headers.setdefault("Cache-Control", "no-store")
