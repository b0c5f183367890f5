"""Workspaces, people, roles and API tokens."""
