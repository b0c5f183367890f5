"""``workspace apply``: idempotent, declarative, all-or-nothing, with line-precise errors."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from panelpilot.context import Context
from panelpilot.panels.connection import PanelConnection
from panelpilot.tenancy.models import Workspace
from panelpilot.vault.models import Secret
from panelpilot.workspaces.apply import apply_file, export_workspace
from panelpilot.workspaces.yamlfile import FileError

ENV = {"ACME_PANEL_KEY": "acme-admin-key-123456", "ACME_USER_KEY": "acme-user-key-987654"}

FILE = """\
workspace:
  slug: acme
  name: Acme SMM
panel:
  type: perfectpanel
  url: https://acme-panel.test
  api_key: ${ACME_PANEL_KEY}
  user_api_key: ${ACME_USER_KEY}
"""


async def _counts(ctx: Context) -> tuple[int, int, int]:
    async with ctx.db.platform_session() as s:
        return (
            (await s.execute(select(func.count()).select_from(Workspace))).scalar_one(),
            (await s.execute(select(func.count()).select_from(PanelConnection))).scalar_one(),
            (await s.execute(select(func.count()).select_from(Secret))).scalar_one(),
        )


async def test_apply_twice_changes_nothing_the_second_time(ctx: Context) -> None:
    first = await apply_file(ctx, FILE, env=ENV)
    assert first.created and "panel connection created" in first.changes
    async with ctx.db.platform_session() as s:
        before = [(x.id, x.ciphertext, x.updated_at) for x in
                  (await s.execute(select(Secret).order_by(Secret.id))).scalars()]
    second = await apply_file(ctx, FILE, env=ENV)
    assert second.changes == [] and not second.created
    async with ctx.db.platform_session() as s:
        after = [(x.id, x.ciphertext, x.updated_at) for x in
                 (await s.execute(select(Secret).order_by(Secret.id))).scalars()]
    assert before == after
    assert await _counts(ctx) == (1, 1, 2)


async def test_changed_secret_and_removed_section(ctx: Context) -> None:
    await apply_file(ctx, FILE, env=ENV)
    changed = await apply_file(ctx, FILE, env={**ENV, "ACME_PANEL_KEY": "rotated-key-000001"})
    assert changed.changes == ["panel connection updated"]
    without_user_key = FILE.replace("  user_api_key: ${ACME_USER_KEY}\n", "")
    assert (await apply_file(ctx, without_user_key, env=ENV)).changes
    assert await _counts(ctx) == (1, 1, 1)
    only_workspace = FILE.split("panel:")[0]
    removed = await apply_file(ctx, only_workspace, env=ENV)
    assert removed.changes == ["panel connection removed"]
    assert await _counts(ctx) == (1, 0, 0)


async def test_dry_run_changes_nothing(ctx: Context) -> None:
    result = await apply_file(ctx, FILE, env=ENV, dry_run=True)
    assert result.changes and result.dry_run
    assert await _counts(ctx) == (0, 0, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FILE.replace("type: perfectpanel", "type: wordpress"), "line 5: panel.type"),
        (FILE.replace("url: https://acme-panel.test", "url: ftp://x"), "url"),
        (FILE.replace("  name: Acme SMM\n", ""), "line 1: workspace.name: Field required"),
        (FILE.replace("  name: Acme SMM\n", "  name: Acme SMM\n  colour: red\n"),
         "line 4: workspace.colour"),
        (FILE + "providers_typo: []\n", "line 9: providers_typo: unknown section"),
        (FILE.replace("${ACME_USER_KEY}", "${MISSING_VAR}"),
         "line 8: panel.user_api_key: environment variable MISSING_VAR is not set"),
        (FILE.replace("slug: acme", "slug: Not A Slug"), "line 2: workspace.slug"),
        ("workspace: [1, 2\n", "not valid YAML"),
        ("- just\n- a list\n", "mapping of sections"),
        ("", "empty"),
        (FILE.replace("  name: Acme SMM\n", "  name: Acme SMM\n  name: Again\n"),
         "line 4: workspace.name: this key appears twice"),
    ],
)
async def test_bad_files_are_rejected_with_the_line_and_change_nothing(
    ctx: Context, text: str, expected: str
) -> None:
    await apply_file(ctx, FILE.replace("slug: acme", "slug: keep"), env=ENV)
    before = await _counts(ctx)
    with pytest.raises(FileError) as info:
        await apply_file(ctx, text, env=ENV)
    assert expected in info.value.render()
    assert await _counts(ctx) == before


async def test_a_failure_late_in_the_apply_rolls_back_earlier_sections(ctx: Context) -> None:
    """The workspace section applied fine, the panel section fails: neither is kept."""
    bad = FILE.replace("url: https://acme-panel.test", "url: https://acme-panel.test?x=1")
    with pytest.raises(FileError, match="line 6: panel.url: the panel address"):
        await apply_file(ctx, bad, env=ENV)
    assert await _counts(ctx) == (0, 0, 0)


async def test_export_round_trips_with_secret_references(ctx: Context) -> None:
    await apply_file(ctx, FILE, env=ENV)
    text, secrets = await export_workspace(ctx, "acme")
    assert "acme-admin-key" not in text
    assert "${PANELPILOT_ACME_PANEL_API_KEY}" in text
    assert secrets == {"PANELPILOT_ACME_PANEL_API_KEY": ENV["ACME_PANEL_KEY"],
                       "PANELPILOT_ACME_PANEL_USER_API_KEY": ENV["ACME_USER_KEY"]}
    again = await apply_file(ctx, text, env=secrets)
    assert again.changes == []
