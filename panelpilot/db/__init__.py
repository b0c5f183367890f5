"""Storage: SQLAlchemy models base, engines and sessions scoped to a workspace, migrations."""

from panelpilot.db.base import Base, WorkspaceScoped, utcnow
from panelpilot.db.engine import Database
from panelpilot.db.scoping import UnscopedQueryError

__all__ = ["Base", "Database", "UnscopedQueryError", "WorkspaceScoped", "utcnow"]
