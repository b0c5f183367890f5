"""Apply a workspace file in one transaction, or export a workspace as one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from panelpilot.context import Context
from panelpilot.db.scoping import PLATFORM_KEY, SCOPE_KEY
from panelpilot.errors import DomainError, NotFound
from panelpilot.tenancy.service import check_slug, create_workspace, workspace_by_slug
from panelpilot.workspaces.sections import SECTIONS, Run
from panelpilot.workspaces.yamlfile import FileError, Path, dotted, line_of, load, substitute_env


@dataclass
class ApplyResult:
    slug: str
    created: bool
    changes: list[str]
    dry_run: bool


def _validate(
    data: dict[str, Any], lines: Mapping[Path, int]
) -> dict[str, Any]:
    problems: list[tuple[int | None, str, str]] = []
    known = {s.name for s in SECTIONS}
    for key in data:
        if key not in known:
            problems.append((line_of(lines, (key,)), str(key),
                             f"unknown section (known: {', '.join(s.name for s in SECTIONS)})"))
    parsed: dict[str, Any] = {}
    for section in SECTIONS:
        raw = data.get(section.name)
        if raw is None:
            if section.required:
                problems.append((None, section.name, "this section is required"))
            parsed[section.name] = None
            continue
        try:
            parsed[section.name] = TypeAdapter(section.model).validate_python(raw)
        except ValidationError as exc:
            for err in exc.errors():
                path: Path = (section.name, *(p for p in err["loc"] if isinstance(p, str | int)))
                problems.append((line_of(lines, path), dotted(path), err["msg"]))
    if problems:
        raise FileError(problems)
    return parsed


def parse(
    text: str, env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], dict[Path, int]]:
    """Read and check a whole file; raises FileError naming each line at fault."""
    data, lines = load(text)
    data = substitute_env(data, lines, env)
    parsed = _validate(data, lines)
    ws = parsed["workspace"]
    assert ws is not None
    try:
        check_slug(ws.slug)
    except DomainError as exc:
        raise FileError([(line_of(lines, ("workspace", "slug")), "workspace.slug",
                          exc.message)]) from None
    return parsed, lines


async def apply_file(
    ctx: Context, text: str, *, env: Mapping[str, str] | None = None, dry_run: bool = False
) -> ApplyResult:
    parsed, lines = parse(text, env)
    ws_model = parsed["workspace"]
    slug: str = ws_model.slug
    async with ctx.db.platform_session() as session:
        ws = await workspace_by_slug(session, slug)
        created = ws is None
        if ws is None:
            ws = await create_workspace(session, slug=slug, name=ws_model.name)
        # From here on the session sees only this workspace, like any workspace session.
        session.info.pop(PLATFORM_KEY, None)
        session.info[SCOPE_KEY] = ws.id
        run = Run(ctx=ctx, session=session, workspace=ws)
        if created:
            run.changed(f"workspace {slug} created")
        current = ""
        try:
            for section in SECTIONS:
                current = section.name
                await section.apply(run, parsed[section.name])
            await session.flush()
        except DomainError as exc:
            await session.rollback()
            key = f"{current}.{exc.field}" if exc.field else current
            raise FileError([(line_of(lines, tuple(key.split("."))), key, exc.message)]) from None
        if dry_run:
            await session.rollback()
            return ApplyResult(slug=slug, created=created, changes=run.changes, dry_run=True)
    from panelpilot.channels.service import forget

    forget(ctx)
    for call in run.after_commit:
        note = await call()
        if note:
            run.changes.append(note)
    return ApplyResult(slug=slug, created=created, changes=run.changes, dry_run=dry_run)


async def export_workspace(ctx: Context, slug: str) -> tuple[str, dict[str, str]]:
    """The workspace as YAML text, and the secrets its ``${…}`` references stand for."""
    async with ctx.db.platform_session() as session:
        ws = await workspace_by_slug(session, slug)
    if ws is None:
        raise NotFound(f"no workspace {slug!r}")
    secrets: dict[str, str] = {}
    doc: dict[str, Any] = {}
    async with ctx.db.session(ws.id) as session:
        run = Run(ctx=ctx, session=session, workspace=ws)
        for section in SECTIONS:
            value = await section.export(run, secrets)
            if value is not None:
                doc[section.name] = value
    header = (
        f"# panelpilot workspace {slug}\n"
        "# Apply with: panelpilot workspace apply FILE.yaml\n"
        + ("# Secrets are ${…} references: set these variables before applying:\n"
           + "".join(f"#   {name}\n" for name in secrets) if secrets else "")
    )
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return header + body, secrets
