"""Structured logging: JSON lines in production, readable lines in development.

Every line carries the workspace and request id of the work it belongs to, taken from context
variables that the web middleware and the workers set.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
workspace_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "workspace", default=None
)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.workspace = workspace_var.get()
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v
        for k, v in record.__dict__.items()
        if k not in _STANDARD and k not in ("request_id", "workspace") and not k.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("workspace", "request_id"):
            value = getattr(record, key, None)
            if value:
                line[key] = value
        line.update(_extras(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        ctx = " ".join(
            f"{k}={v}"
            for k, v in (("ws", getattr(record, "workspace", None)),
                         ("req", getattr(record, "request_id", None)))
            if v
        )
        extra = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        text = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        text += f"  [{ctx}]" if ctx else ""
        text += f"  {extra}" if extra else ""
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(fmt: str = "auto", level: str = "INFO", production: bool = False) -> None:
    if fmt == "auto":
        fmt = "json" if production else "text"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "aiogram.event", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
