"""The ``help`` command: the workspace's help template, in chats where customers ask."""

from __future__ import annotations

import re

from panelpilot.chats.models import ChatRole
from panelpilot.conversation.turn import Turn

WORDS = {"help", "commands", "start", "menu"}
# "/help", "/help@MyBot", "help", "HELP!", "@MyBot help"
COMMAND = re.compile(r"^(?:@\w+\s+)?/?(?P<word>[a-z]+)(?:@\w+)?[\s!?.]*$")


class HelpModule:
    name = "help"

    async def handle(self, turn: Turn) -> bool:
        match = COMMAND.match(turn.text.lower())
        if not match or match.group("word") not in WORDS:
            return False
        if turn.chat.role == ChatRole.PROVIDER_GROUP:
            return False  # providers talk among themselves there; never answer them
        in_group = turn.chat.chat_type == "group"
        explicit = turn.text.startswith("/") or turn.message.mentioned
        if in_group and turn.chat.role != ChatRole.CUSTOMER_GROUP and not explicit:
            return False
        if match.group("word") == "start" and not turn.text.startswith("/"):
            return False
        turn.reply(await turn.template("help"), quote=in_group)
        turn.done("help")
        return True
