"""INSERT … ON CONFLICT DO NOTHING on either database, built once per table and dialect.

The spine inserts this way on every message (events, chats, outbox rows): building the
statement anew each time costs more than running it.
"""

from __future__ import annotations

from typing import Any

_BUILT: dict[tuple[Any, str, Any], Any] = {}


def insert_ignoring(model: Any, dialect: str, *returning: Any) -> Any:
    """The statement for ``model`` on ``dialect`` ("postgresql" or "sqlite"), optionally with
    ``RETURNING`` these columns; run it with the rows as parameters."""
    key = (model, dialect, returning)
    stmt = _BUILT.get(key)
    if stmt is None:
        stmt = dialect_insert(dialect)(model).on_conflict_do_nothing()
        if returning:
            stmt = stmt.returning(*returning)
        _BUILT[key] = stmt
    return stmt


def dialect_insert(dialect: str) -> Any:
    """The ``insert`` of ``dialect`` ("postgresql" or "sqlite"), which has ON CONFLICT."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert
