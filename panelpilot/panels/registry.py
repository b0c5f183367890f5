"""Which adapter serves which panel type; the one place that builds adapters."""

from __future__ import annotations

from typing import Any

import httpx

from panelpilot.panels.base import PanelAdapter
from panelpilot.panels.perfectpanel import PerfectPanelAdapter
from panelpilot.panels.rental import RentalPanelAdapter

ADAPTERS: dict[str, type[PerfectPanelAdapter] | type[RentalPanelAdapter]] = {
    "perfectpanel": PerfectPanelAdapter,
    "rental": RentalPanelAdapter,
}

# Spellings admins type in files and forms.
_ALIASES = {
    "perfect_panel": "perfectpanel", "perfect-panel": "perfectpanel",
    "perfect panel": "perfectpanel", "pp": "perfectpanel", "v2": "perfectpanel",
    "rentalpanel": "rental", "rental_panel": "rental", "rental-panel": "rental",
    "rental panel": "rental", "v1": "rental",
}


def panel_type_of(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in ADAPTERS:
        raise ValueError(f"unknown panel type {name!r}; known: {', '.join(ADAPTERS)}")
    return key


def make_adapter(
    panel_type: str, *, base_url: str, api_key: str, user_api_key: str | None = None,
    http: httpx.AsyncClient, **options: Any,
) -> PanelAdapter:
    """An adapter for one panel. ``options``: ``rate``, ``burst``, ``timeout``, ``tz``."""
    cls = ADAPTERS[panel_type_of(panel_type)]
    return cls(base_url=base_url, api_key=api_key, user_api_key=user_api_key, http=http,
               **options)
