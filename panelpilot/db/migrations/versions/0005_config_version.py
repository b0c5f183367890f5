"""workspaces.config_version, moved by triggers whenever templates or order rules change

Revision ID: 0005_config_version
Revises: 0004_test_runs_default_templates
Create Date: 2026-12-06 20:30:00

Workers keep a workspace's templates and order rules in memory and read them again only when
this number moved (``panelpilot.conversation.config``). Triggers move it, so every way of
changing them (console, API, workspace apply, SQL by hand) is seen by every worker at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_config_version'
down_revision: str | None = '0004_test_runs_default_templates'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the columns whose change is a configuration change (None: any)
WATCHED: dict[str, tuple[str, ...] | None] = {
    "templates": None,
    "order_settings": ("rules", "aliases"),
}
BUMP = "UPDATE workspaces SET config_version = config_version + 1 WHERE id = {row}.workspace_id"


def upgrade() -> None:
    with op.batch_alter_table('workspaces') as batch:
        batch.add_column(sa.Column('config_version', sa.Integer(), nullable=False,
                                   server_default='0'))
    if op.get_context().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION panelpilot_bump_config_version() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    """ + BUMP.format(row="OLD") + """;
                    RETURN OLD;
                END IF;
                """ + BUMP.format(row="NEW") + """;
                RETURN NEW;
            END $$ LANGUAGE plpgsql""")
        for table, columns in WATCHED.items():
            update = "UPDATE" + (f" OF {', '.join(columns)}" if columns else "")
            op.execute(f"CREATE TRIGGER {table}_config_version AFTER INSERT OR {update} "
                       f"OR DELETE ON {table} FOR EACH ROW "
                       "EXECUTE FUNCTION panelpilot_bump_config_version()")
        return
    for table, columns in WATCHED.items():
        update = "UPDATE" + (f" OF {', '.join(columns)}" if columns else "")
        for event, row in (("INSERT", "NEW"), (update, "NEW"), ("DELETE", "OLD")):
            name = f"{table}_config_version_{event.split()[0].lower()}"
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                       f"BEGIN {BUMP.format(row=row)}; END")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_config_version ON {table}")
        op.execute("DROP FUNCTION panelpilot_bump_config_version()")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_config_version_{event}")
    with op.batch_alter_table('workspaces') as batch:
        batch.drop_column('config_version')
