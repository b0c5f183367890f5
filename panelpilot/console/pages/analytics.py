"""Console page: filled in by its feature (placeholder router until then)."""

from __future__ import annotations

from panelpilot.console.routing import console_router

router = console_router()
