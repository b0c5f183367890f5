"""Secrets are encrypted at rest, masked everywhere, bound to their row, and rotatable."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, text

from panelpilot.context import Context
from panelpilot.vault.crypto import Keyring, VaultError, key_id_of, load_keyring, mask
from panelpilot.vault.models import Secret
from panelpilot.vault.store import keys_in_use, put_secret, reveal, rotate_all
from tests.support import Tenants

PANEL_KEY = "pk_live_9f8e7d6c5b4a39281706"


async def _raw_dump(ctx: Context) -> str:
    """Every row of every table as text, read past the ORM."""
    from panelpilot.db.models import metadata

    parts = []
    async with ctx.db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = (await conn.execute(text(f'SELECT * FROM "{table.name}"'))).all()
            parts.append(repr(rows))
    return "\n".join(parts)


async def test_token_saved_through_api_is_not_in_the_database_and_is_masked(
    ctx: Context, client: httpx.AsyncClient, tenants: Tenants
) -> None:
    r = await client.put("/api/v1/workspaces/acme/panel", headers=Tenants.auth(tenants.owner),
                         json={"type": "perfectpanel", "url": "https://panel.test",
                               "api_key": PANEL_KEY, "user_api_key": "user-key-abcdef123456"})
    assert r.status_code == 200
    assert r.json()["api_key"] == "••••1706"
    assert PANEL_KEY not in r.text
    got = await client.get("/api/v1/workspaces/acme/panel", headers=Tenants.auth(tenants.agent))
    assert got.json()["api_key"] == "••••1706" and PANEL_KEY not in got.text
    dump = await _raw_dump(ctx)
    assert PANEL_KEY not in dump
    assert PANEL_KEY[:-4] not in dump and "user-key-abcdef" not in dump
    async with ctx.db.session(tenants.acme_id) as s:
        secret = (await s.execute(select(Secret).where(Secret.purpose == "panel.api_key"))
                  ).scalar_one()
        assert reveal(ctx.keyring, secret) == PANEL_KEY


async def test_ciphertext_moved_to_another_workspace_does_not_decrypt(
    ctx: Context, tenants: Tenants
) -> None:
    async with ctx.db.session(tenants.acme_id) as s:
        mine = await put_secret(s, ctx.keyring, workspace_id=tenants.acme_id,
                                purpose="panel.api_key", value=PANEL_KEY)
        stolen = mine.ciphertext
    async with ctx.db.session(tenants.other_id) as s:
        theirs = await put_secret(s, ctx.keyring, workspace_id=tenants.other_id,
                                  purpose="panel.api_key", value="other-key-000000")
        theirs.ciphertext = stolen
        with pytest.raises(VaultError):
            reveal(ctx.keyring, theirs)


def test_tampered_ciphertext_is_refused() -> None:
    ring = Keyring("k" * 32)
    token = ring.encrypt("hello", "aad")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(VaultError):
        ring.decrypt(flipped, "aad")
    with pytest.raises(VaultError):
        ring.decrypt("garbage", "aad")


def test_mask_shows_at_most_four_characters() -> None:
    assert mask("abcdefghijkl") == "••••ijkl"
    assert mask(None, "") == ""
    assert mask(None, "wxyz") == "••••wxyz"


def test_production_refuses_to_start_without_a_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(VaultError, match="PANELPILOT_SECRET_KEY"):
        load_keyring(None, [], tmp_path / "k", production=True)
    ring = load_keyring(None, [], tmp_path / "k", production=False)
    assert (tmp_path / "k").exists()
    assert load_keyring(None, [], tmp_path / "k", production=False).current_id == ring.current_id


async def test_rotation_reencrypts_and_old_key_can_be_dropped(
    ctx: Context, tenants: Tenants
) -> None:
    old = ctx.keyring
    async with ctx.db.session(tenants.acme_id) as s:
        for i in range(5):
            await put_secret(s, old, workspace_id=tenants.acme_id, purpose=f"p{i}",
                             value=f"secret-value-{i}")
    new_key = "a-brand-new-key-for-rotation-0001"
    from tests.conftest import TEST_KEY

    both = Keyring(new_key, [TEST_KEY])
    # during the rotation both keys read every row
    async with ctx.db.platform_session() as s:
        for secret in (await s.execute(select(Secret))).scalars():
            assert reveal(both, secret).startswith("secret-value-")
    report = await rotate_all(ctx.db, both, batch=2)
    assert report.rotated == 5 and report.total == 5
    assert await keys_in_use(ctx.db) == {key_id_of(new_key): 5}
    assert (await rotate_all(ctx.db, both)).rotated == 0  # idempotent
    only_new = Keyring(new_key)
    async with ctx.db.platform_session() as s:
        values = sorted(reveal(only_new, x) for x in (await s.execute(select(Secret))).scalars())
    assert values == [f"secret-value-{i}" for i in range(5)]
    with pytest.raises(VaultError, match="not configured"):
        async with ctx.db.platform_session() as s:
            secret = (await s.execute(select(Secret))).scalars().first()
            assert secret is not None
            reveal(Keyring(TEST_KEY), secret)
