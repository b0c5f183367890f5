"""The inbox: every inbound event stored once, then processed in order per chat by workers."""
