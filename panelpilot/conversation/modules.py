"""The interface every conversation module implements, and the ordered list of modules.

A module is asked, in order, whether a turn is its business: ``handle`` returns True when it
took the turn (answered, or deliberately stayed silent), False to let the next module try.
A chat in the middle of a multi-step flow goes to the flow's module first. When no module
takes a message the bot stays silent (strict mode): customers never get "I don't understand".

To add a module: implement ``Module`` in the feature's folder and add it to ``modules()``.

A module that needs a per-chat value on most turns (order support: the chat's linked panel
username) declares it in ``chat_context`` instead of reading it in ``handle``: a statement
selecting (chat pk, value) for the chats whose pks are the expanding parameter ``pks``. The
spine runs it with the turn's context, one query for a whole batch of events, and the turn
finds the value in ``turn.chat_context[name]`` (absent: no row for this chat).
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

from panelpilot.conversation.turn import Turn


class Module(Protocol):
    name: str

    async def handle(self, turn: Turn) -> bool: ...


def chat_context_queries() -> dict[str, Any]:
    """Every module's ``chat_context`` statements, by name."""
    merged: dict[str, Any] = {}
    for module in modules():
        merged.update(getattr(module, "chat_context", {}))
    return merged


@functools.cache
def modules() -> list[Module]:
    from panelpilot.conversation.help import HelpModule
    from panelpilot.orders.module import OrdersModule, UnrecognizedModule

    # Orders first (its help is the order-support help); UnrecognizedModule stays last: it
    # logs what no module took for the failed-commands report, and keeps the silence.
    return [OrdersModule(), HelpModule(), UnrecognizedModule()]


async def converse(turn: Turn, available: list[Module] | None = None) -> None:
    ordered = list(available if available is not None else modules())
    if turn.flow is not None:
        owner = [m for m in ordered if m.name == turn.flow.module]
        ordered = owner + [m for m in ordered if m.name != turn.flow.module]
    for module in ordered:
        if await module.handle(turn):
            if not turn.outcome:
                turn.done(module.name)
            return
    turn.done("silent")
