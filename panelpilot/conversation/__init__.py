"""Conversation: what a message means (a command, the next step of a flow) and who answers it."""
