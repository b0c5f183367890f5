"""Chats as panelpilot remembers them: role, reachability, aliases after id changes."""
