"""The interface every conversation module implements, and the ordered list of modules.

A module is asked, in order, whether a turn is its business: ``handle`` returns True when it
took the turn (answered, or deliberately stayed silent), False to let the next module try.
A chat in the middle of a multi-step flow goes to the flow's module first. When no module
takes a message the bot stays silent (strict mode): customers never get "I don't understand".

To add a module: implement ``Module`` in the feature's folder and add it to ``modules()``.
"""

from __future__ import annotations

from typing import Protocol

from panelpilot.conversation.turn import Turn


class Module(Protocol):
    name: str

    async def handle(self, turn: Turn) -> bool: ...


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
