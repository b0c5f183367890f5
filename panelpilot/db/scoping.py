"""The scoping rule: a query can not forget its workspace.

A session opened for a workspace gets a filter on every workspace-scoped model it selects,
updates or deletes, and every row it inserts must belong to that workspace. A session opened
with no scope and not marked as a platform session refuses to query scoped models at all, so a
forgotten filter is an error at the first test run rather than a leak in production.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from panelpilot.db.base import WorkspaceScoped

SCOPE_KEY = "workspace_id"
PLATFORM_KEY = "platform"


class UnscopedQueryError(RuntimeError):
    """A workspace-scoped model was queried from a session with no workspace scope."""


def _is_scoped_mapper(mapper: Any) -> bool:
    cls = mapper.class_
    return issubclass(cls, WorkspaceScoped) or getattr(cls, "__scope_by_id__", False)


@event.listens_for(Session, "do_orm_execute")
def _apply_scope(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent row was already loaded under the scope
    info = state.session.info
    workspace_id = info.get(SCOPE_KEY)
    if workspace_id is None:
        if info.get(PLATFORM_KEY):
            return
        touched = [m.class_.__name__ for m in state.all_mappers if _is_scoped_mapper(m)]
        if touched:
            raise UnscopedQueryError(
                f"query on {', '.join(touched)} from a session without a workspace scope"
            )
        return
    from panelpilot.tenancy.models import Workspace

    state.statement = state.statement.options(
        with_loader_criteria(
            WorkspaceScoped,
            lambda cls: cls.workspace_id == workspace_id,
            include_aliases=True,
        ),
        with_loader_criteria(Workspace, Workspace.id == workspace_id, include_aliases=True),
    )


@event.listens_for(Session, "before_flush")
def _check_writes(session: Session, flush_context: Any, instances: Any) -> None:
    workspace_id = session.info.get(SCOPE_KEY)
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, WorkspaceScoped):
            continue
        if workspace_id is None:
            if session.info.get(PLATFORM_KEY):
                continue
            raise UnscopedQueryError(f"write of {type(obj).__name__} without a workspace scope")
        if obj.workspace_id is None:
            obj.workspace_id = workspace_id
        elif obj.workspace_id != workspace_id:
            raise UnscopedQueryError(
                f"write of {type(obj).__name__} for another workspace than the session's"
            )
