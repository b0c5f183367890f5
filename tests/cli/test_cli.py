"""The ``panelpilot`` command, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY

COMMANDS = ["serve", "worker", "migrate", "demo", "admin create", "token create", "secrets rotate",
            "secrets status", "secrets generate-key", "workspace apply", "workspace export",
            "workspace list"]


def run(args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "panelpilot", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, input=stdin, timeout=60)


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("PANELPILOT_")}
    out.update(PANELPILOT_DATABASE_URL=database_url, PANELPILOT_SECRET_KEY=TEST_KEY,
               PANELPILOT_LOG_LEVEL="WARNING")
    return out


def test_help_lists_every_command_with_examples(env: dict[str, str], tmp_path: Path) -> None:
    top = run(["--help"], env, tmp_path)
    assert top.returncode == 0
    for name in ("serve", "worker", "migrate", "demo", "admin", "token", "secrets", "workspace"):
        assert name in top.stdout
    for command in COMMANDS:
        out = run([*command.split(), "--help"], env, tmp_path)
        assert out.returncode == 0, out.stderr
        assert "Examples" in out.stdout, command


def test_a_whole_session(env: dict[str, str], tmp_path: Path) -> None:
    assert "current" in run(["migrate"], env, tmp_path).stdout
    assert run(["migrate", "--check"], env, tmp_path).returncode == 0
    made = run(["admin", "create", "--email", "Boss@Example.com", "--password",
                "a long pass phrase"], env, tmp_path)
    assert made.returncode == 0 and "boss@example.com" in made.stdout
    dup = run(["admin", "create", "--email", "boss@example.com", "--password", "x" * 12],
              env, tmp_path)
    assert dup.returncode == 1 and "exists already" in dup.stderr and "Traceback" not in dup.stderr

    file = tmp_path / "acme.yaml"
    file.write_text("workspace:\n  slug: acme\n  name: Acme\npanel:\n  type: rental\n"
                    "  url: https://rent.test\n  api_key: ${ACME_KEY}\n")
    missing = run(["workspace", "apply", str(file)], env, tmp_path)
    assert missing.returncode == 1 and "line 7: panel.api_key" in missing.stderr
    env2 = {**env, "ACME_KEY": "rental-key-123456789"}
    first = run(["workspace", "apply", str(file)], env2, tmp_path)
    assert first.returncode == 0 and "workspace acme created" in first.stdout
    assert "no changes" in run(["workspace", "apply", str(file)], env2, tmp_path).stdout
    exported = run(["workspace", "export", "acme"], env, tmp_path)
    assert "${PANELPILOT_ACME_PANEL_API_KEY}" in exported.stdout
    assert "rental-key" not in exported.stdout
    assert "acme" in run(["workspace", "list"], env, tmp_path).stdout

    token = run(["token", "create", "--workspace", "acme", "--name", "ci"], env, tmp_path)
    assert token.returncode == 0 and token.stdout.startswith("pp_")
    assert run(["token", "create", "--name", "x"], env, tmp_path).returncode == 1
    assert run(["token", "create", "--workspace", "nope", "--name", "x"], env,
               tmp_path).returncode == 1

    new_key = run(["secrets", "generate-key"], env, tmp_path).stdout.strip()
    rotated_env = {**env, "PANELPILOT_SECRET_KEY": new_key,
                   "PANELPILOT_OLD_SECRET_KEYS": TEST_KEY}
    rotated = run(["secrets", "rotate"], rotated_env, tmp_path)
    assert rotated.returncode == 0 and "1 secrets re-encrypted" in rotated.stdout
    dropped = {**env, "PANELPILOT_SECRET_KEY": new_key}
    status = run(["secrets", "status"], dropped, tmp_path)
    assert "(current)" in status.stdout and "NOT CONFIGURED" not in status.stdout
    assert "rental-key-123456789" in run(["workspace", "export", "acme", "--env-file",
                                          str(tmp_path / "e.env")], dropped, tmp_path).stdout \
        or "rental-key-123456789" in (tmp_path / "e.env").read_text()


def test_serve_refuses_an_outdated_schema_and_production_without_key(
    env: dict[str, str], tmp_path: Path
) -> None:
    fresh = {**env, "PANELPILOT_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    out = run(["serve", "--port", "1"], fresh, tmp_path)
    assert out.returncode == 1 and "panelpilot migrate" in out.stderr
    prod = {k: v for k, v in fresh.items() if k != "PANELPILOT_SECRET_KEY"}
    prod["PANELPILOT_ENV"] = "production"
    out = run(["serve", "--port", "1"], prod, tmp_path)
    assert out.returncode == 1 and "PANELPILOT_SECRET_KEY" in out.stderr
    assert not (tmp_path / ".panelpilot-secret-key").exists()


def test_demo_once_plays_a_conversation(env: dict[str, str], tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = run(["demo", "--once", "--port", str(port)], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "→ customer says: help" in out.stdout and "← bot answers:" in out.stdout
