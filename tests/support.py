"""Shared test helpers (kept out of conftest so test modules can import them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Tenants:
    """Two workspaces: ``acme`` (owner, agent) and ``other`` (its owner is the outsider)."""

    platform: str
    owner: str
    agent: str
    outsider: str
    acme_id: int
    other_id: int

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}
