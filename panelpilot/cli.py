"""The ``panelpilot`` command: serve, worker, migrate, demo, admin, token, secrets, workspace."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from panelpilot.settings import Settings, get_settings

T = TypeVar("T")

app = typer.Typer(
    help="panelpilot: WhatsApp and Telegram support bots for SMM panels.\n\n"
    "Settings come from PANELPILOT_* environment variables (see the README).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
admin_app = typer.Typer(help="Platform owners.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
secrets_app = typer.Typer(help="The encryption keys of stored secrets.", no_args_is_help=True)
workspace_app = typer.Typer(help="Declarative workspace files.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(token_app, name="token")
app.add_typer(secrets_app, name="secrets")
app.add_typer(workspace_app, name="workspace")


def fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _configure_logging(settings: Settings) -> None:
    from panelpilot.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level, settings.is_production)


def _context() -> Any:
    from panelpilot.context import Context
    from panelpilot.vault.crypto import VaultError

    settings = get_settings()
    _configure_logging(settings)
    try:
        return Context.from_settings(settings)
    except VaultError as exc:
        fail(str(exc))


def run_with_context(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(ctx)`` with a fresh context, turning domain errors into clean messages."""
    from panelpilot.errors import DomainError
    from panelpilot.workspaces.yamlfile import FileError

    async def main() -> T:
        ctx = _context()
        try:
            return await work(ctx)
        finally:
            await ctx.close()

    try:
        return asyncio.run(main())
    except FileError as exc:
        fail(exc.render())
    except DomainError as exc:
        fail(f"{exc.field + ': ' if exc.field else ''}{exc.message}")
    raise AssertionError  # unreachable: fail() raises


async def _require_current_schema(ctx: Any) -> None:
    from panelpilot.db.migrate import schema_status

    try:
        current, revision, head = await schema_status(ctx.db)
    except Exception as exc:
        fail(f"cannot reach the database at {ctx.db.engine.url!r}: {exc}")
    finally:
        # The pooled connection belongs to this short-lived event loop; the server runs on
        # another one, where reusing it would fail the first request.
        await ctx.db.dispose()
    if not current:
        fail(
            f"the database schema is {'empty' if revision is None else 'at ' + revision}, "
            f"this panelpilot needs {head}.\nRun `panelpilot migrate` first, then start again."
        )


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    no_workers: bool = typer.Option(False, "--no-workers",
                                    help="Web only: leave background work to `panelpilot worker`."),
) -> None:
    """Run the web app, and the background workers in the same process.

    Examples:

      panelpilot serve

      panelpilot serve --host 0.0.0.0 --port 8080 --no-workers
    """
    import uvicorn

    from panelpilot.web.app import create_app
    from panelpilot.worker import attach_workers

    ctx = _context()
    asyncio.run(_require_current_schema(ctx))
    web = create_app(ctx, own_context=True)
    if not no_workers:
        attach_workers(web, ctx)
    typer.echo(f"panelpilot listening on http://{host}:{port} "
               f"({'web only' if no_workers else 'web and workers'}, {ctx.db.dialect})")
    uvicorn.run(web, host=host, port=port, log_level="warning", access_log=False,
                log_config=None)


@app.command()
def worker(
    concurrency: int = typer.Option(8, min=1, max=256, help="Chats handled at once."),
) -> None:
    """Run only the background workers (inbox, outbox, runners). Start as many as you like.

    Examples:

      panelpilot worker

      PANELPILOT_DATABASE_URL=postgresql://app@db/panelpilot panelpilot worker --concurrency 32
    """
    from panelpilot.worker import run_forever

    ctx = _context()
    asyncio.run(_require_current_schema(ctx))
    asyncio.run(run_forever(ctx, concurrency=concurrency))


@app.command()
def migrate(
    check: bool = typer.Option(False, "--check", help="Only report; exit 1 if not current."),
) -> None:
    """Bring the database to the latest schema (safe to run again).

    Examples:

      panelpilot migrate

      panelpilot migrate --check
    """
    from panelpilot.db.migrate import schema_status, upgrade

    async def work(ctx: Any) -> None:
        current, revision, head = await schema_status(ctx.db)
        if check:
            typer.echo(f"database at {revision or 'empty'}, code at {head}")
            if not current:
                raise typer.Exit(1)
            return
        if current:
            typer.echo(f"the schema is current ({head})")
            return
        await upgrade(ctx.db)
        typer.echo(f"migrated from {revision or 'empty'} to {head}")

    run_with_context(work)


@app.command()
def demo(
    port: int = typer.Option(8000, help="Port for panelpilot's web app."),
    once: bool = typer.Option(False, "--once",
                              help="Play the scripted conversation, print it and exit."),
    database: Path | None = typer.Option(None, help="SQLite file (default: a temporary one)."),
) -> None:
    """Start panelpilot with every outside system simulated, and talk to it as a customer.

    Needs no accounts and no network: Telegram, Green API, Meta and the SMM panel are
    simulators on this machine. It prints where the console, the API and the simulators are.

    Examples:

      panelpilot demo

      panelpilot demo --port 8080

      panelpilot demo --once
    """
    from panelpilot.demo import check_port, run
    from panelpilot.logs import configure_logging

    configure_logging("text", "WARNING")
    check_port(port)
    raise typer.Exit(asyncio.run(run(port, once, database)))


@admin_app.command("create")
def admin_create(
    email: str = typer.Option(..., help="The platform owner's email (their login)."),
    password: str | None = typer.Option(None, help="Leave out to be asked (safer than a flag)."),
    name: str = typer.Option("", help="A display name."),
) -> None:
    """Create a platform owner (master admin).

    Examples:

      panelpilot admin create --email owner@example.com

      panelpilot admin create --email owner@example.com --password 'long passphrase here'
    """
    from panelpilot.tenancy.service import create_user

    if password is None:
        password = os.environ.get("PANELPILOT_ADMIN_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            fail("no --password given and no terminal to ask on")
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            fail("the passwords differ")

    async def work(ctx: Any) -> None:
        async with ctx.db.platform_session() as session:
            user = await create_user(session, email=email, password=password, name=name,
                                     platform_owner=True)
            typer.echo(f"platform owner {user.email} created")

    run_with_context(work)


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., help="What the token is for, e.g. 'ci' or 'zapier'."),
    workspace: str | None = typer.Option(None, help="The workspace slug it is scoped to."),
    platform: bool = typer.Option(False, "--platform", help="A platform token (all workspaces)."),
    role: str = typer.Option("owner", help="Workspace tokens: owner or agent (read-only)."),
) -> None:
    """Create an API token. It is printed once and stored only as a hash.

    Examples:

      panelpilot token create --platform --name ops

      panelpilot token create --workspace acme --name support-dashboard --role agent
    """
    from panelpilot.errors import NotFound
    from panelpilot.tenancy.service import create_token, workspace_by_slug

    if platform == (workspace is not None):
        fail("give either --workspace SLUG or --platform")

    async def work(ctx: Any) -> None:
        ws_id = None
        if workspace is not None:
            async with ctx.db.platform_session() as session:
                ws = await workspace_by_slug(session, workspace)
                if ws is None:
                    raise NotFound(f"no workspace {workspace!r}")
                ws_id = ws.id
        if ws_id is None:
            async with ctx.db.platform_session() as session:
                issued = await create_token(session, None, name=name, role="platform_owner")
        else:
            async with ctx.db.session(ws_id) as session:
                issued = await create_token(session, ws_id, name=name, role=role)
        typer.echo(issued.plaintext)
        typer.secho("Keep it now: it is not shown again.", err=True, fg=typer.colors.YELLOW)

    run_with_context(work)


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret under the current PANELPILOT_SECRET_KEY.

    Steps without downtime: generate a new key; on every node set PANELPILOT_SECRET_KEY to it
    and move the old one into PANELPILOT_OLD_SECRET_KEYS; run this command; when it reports
    nothing left under old keys, remove PANELPILOT_OLD_SECRET_KEYS.

    Examples:

      PANELPILOT_SECRET_KEY=new PANELPILOT_OLD_SECRET_KEYS=old panelpilot secrets rotate
    """
    from panelpilot.vault.store import keys_in_use, rotate_all

    async def work(ctx: Any) -> None:
        report = await rotate_all(ctx.db, ctx.keyring)
        typer.echo(f"{report.rotated} secrets re-encrypted, {report.already_current} already "
                   f"under the current key ({ctx.keyring.current_id}), {report.total} in all")
        left = {k: n for k, n in (await keys_in_use(ctx.db)).items()
                if k != ctx.keyring.current_id}
        if left:
            fail(f"still under old keys: {left}")
        typer.echo("no secret uses an old key: PANELPILOT_OLD_SECRET_KEYS can be removed")

    run_with_context(work)


@secrets_app.command("status")
def secrets_status() -> None:
    """Show which keys the stored secrets are encrypted with.

    Examples:

      panelpilot secrets status
    """
    from panelpilot.vault.store import keys_in_use

    async def work(ctx: Any) -> None:
        typer.echo(f"current key id: {ctx.keyring.current_id}")
        for key_id, count in sorted((await keys_in_use(ctx.db)).items()):
            mark = " (current)" if key_id == ctx.keyring.current_id else ""
            known = "" if key_id in ctx.keyring.key_ids else " (NOT CONFIGURED)"
            typer.echo(f"  {key_id}: {count} secrets{mark}{known}")

    run_with_context(work)


@secrets_app.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new random key for PANELPILOT_SECRET_KEY.

    Examples:

      export PANELPILOT_SECRET_KEY=$(panelpilot secrets generate-key)
    """
    from panelpilot.vault.crypto import generate_key

    typer.echo(generate_key())


@workspace_app.command("apply")
def workspace_apply(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="The workspace YAML file."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and report, change nothing."),
) -> None:
    """Create or update a workspace from a YAML file. Applying twice changes nothing.

    Secrets may be written as ${ENV_VAR}. A section left out of the file is removed from the
    workspace. A bad file is reported with its line and changes nothing.

    Examples:

      panelpilot workspace apply acme.yaml

      ACME_PANEL_KEY=... panelpilot workspace apply acme.yaml --dry-run
    """
    from panelpilot.workspaces.apply import apply_file

    text = file.read_text(encoding="utf-8")

    async def work(ctx: Any) -> None:
        result = await apply_file(ctx, text, dry_run=dry_run)
        verb = "would change" if dry_run else "changed"
        if not result.changes:
            typer.echo(f"workspace {result.slug}: no changes")
            return
        typer.echo(f"workspace {result.slug}: {verb}:")
        for change in result.changes:
            typer.echo(f"  - {change}")

    run_with_context(work)


@workspace_app.command("export")
def workspace_export(
    slug: str = typer.Argument(..., help="The workspace slug."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to a file."),
    env_file: Path | None = typer.Option(
        None, "--env-file", help="Also write the secrets as VAR=value lines to this file."),
) -> None:
    """Write a workspace as a YAML file; secrets appear as ${ENV_VAR} references.

    Examples:

      panelpilot workspace export acme > acme.yaml

      panelpilot workspace export acme -o acme.yaml --env-file acme.env
    """
    from panelpilot.workspaces.apply import export_workspace

    async def work(ctx: Any) -> tuple[str, dict[str, str]]:
        return await export_workspace(ctx, slug)

    text, secrets = run_with_context(work)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)
    if env_file:
        env_file.write_text("".join(f"{k}={v}\n" for k, v in secrets.items()))
        env_file.chmod(0o600)


@workspace_app.command("list")
def workspace_list() -> None:
    """List the workspaces.

    Examples:

      panelpilot workspace list
    """
    from sqlalchemy import select

    from panelpilot.tenancy.models import Workspace

    async def work(ctx: Any) -> None:
        async with ctx.db.platform_session() as session:
            for ws in (await session.execute(select(Workspace).order_by(Workspace.slug))).scalars():
                typer.echo(f"{ws.slug}\t{ws.status}\t{ws.plan or '-'}\t{ws.name}")

    run_with_context(work)


def main() -> None:  # pragma: no cover
    app()
