"""Aliases: the words the bot understands for each command. The built-in ones (English, Turkish,
Russian, Indonesian, Spanish, Portuguese, Arabic, Hindi and common misspellings) are shown read
only; the workspace adds its own words or phrases in any language.

Adding calls ``orders.admin.set_alias`` and removing ``orders.admin.remove_alias`` (both checked
by ``orders.rules.check_aliases``), as ``PUT``/``DELETE .../orders/aliases/{word}`` do.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import WorkspacePage, open_workspace, sentence
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.errors import DomainError
from panelpilot.orders import admin
from panelpilot.orders.grammar import builtin_aliases

router = console_router()
add_workspace_page(NavItem("aliases", "Aliases", "/aliases", section="Setup", order=46))

COMMANDS = {
    "refill": "refill — ask the provider to refill an order",
    "speed": "speed — ask the provider to speed an order up",
    "cancel": "cancel — ask the provider to cancel an order",
    "status": "status — the order's status",
    "balance": "balance — the customer's panel balance",
    "help": "help — the list of commands",
    "link": "link — link a chat to a panel username",
    "unlink": "unlink — remove a chat's link",
    "order": "order — full details of an order (support chats)",
}


def _builtin_meaning(word: str) -> str | None:
    folded = word.strip().casefold()
    for target, words in builtin_aliases().items():
        if any(w.casefold() == folded for w in words):
            return target
    return None


async def _page(request: Request, page: WorkspacePage, *, values: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        _, aliases = await admin.get_settings(session)
    own = sorted(aliases.items(), key=lambda kv: (kv[1], kv[0].casefold()))
    return await render(request, "ws/aliases.html", status=status, page=page, active="aliases",
                        title="Aliases", own=own, builtin=builtin_aliases(),
                        command_options={"": "Choose a command…", **COMMANDS},
                        values=values or {}, errors=errors or {})


@router.get("/w/{slug}/aliases")
async def aliases_page(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    return await _page(request, page)


@router.post("/w/{slug}/aliases")
async def add_alias(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    values = {"word": page.value("word"), "target": page.value("target")}
    errors: dict[str, str] = {}
    if not values["word"]:
        errors["word"] = "Enter the word or phrase your customers write, e.g. yenile."
    elif len(values["word"]) > 60:
        errors["word"] = "Keep it to 60 characters or fewer."
    if not values["target"]:
        errors["target"] = "Choose the command it means."
    if errors:
        return await _page(request, page, values=values, errors=errors, status=422)
    try:
        async with page.console.ctx.db.session(page.ws.id) as session:
            before = await admin.set_alias(session, page.ws.id, values["word"],
                                           values["target"])
    except DomainError as exc:
        field = exc.field if exc.field in ("word", "target") else "word"
        message = exc.message.split(": ", 1)[-1] if exc.message.startswith("alias ") \
            else exc.message
        return await _page(request, page, values=values, errors={field: sentence(message)},
                           status=422)
    word, target = values["word"], values["target"].lower()
    if before is not None and before != target:
        message = f"“{word}” now means {target} (it meant {before})."
    elif before is not None:
        message = f"“{word}” already meant {target}."
    else:
        message = f"“{word}” now means {target}."
    builtin = _builtin_meaning(word)
    if builtin is not None and builtin != target:
        message += f" It replaces the built-in meaning ({builtin}) in this workspace."
    page.flash("success" if before != target else "info", message)
    return redirect(f"{page.base}/aliases")


@router.post("/w/{slug}/aliases/remove")
async def remove_alias(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    word = page.value("word")
    async with page.console.ctx.db.session(page.ws.id) as session:
        removed = await admin.remove_alias(session, page.ws.id, word) if word else False
    if removed:
        page.flash("success", f"“{word}” is no longer one of your aliases.")
    else:
        page.flash("info", f"“{word}” was not one of your aliases: nothing changed.")
    return redirect(f"{page.base}/aliases")
