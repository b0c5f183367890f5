"""An upstream provider on loopback: the standard API v2 (``POST /api/v2``, ``key``, ``action``)
that records every refill and cancel request it receives, with fault injection and ``/_sim``.

Its orders carry the ids a panel stores as ``external_id`` (e.g. ``EXT-99812``).
Run it alone: ``python -m panelpilot.sim.provider --port 8083``.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from panelpilot.sim.smm_data import (
    ANY_OWNER,
    SimBase,
    UserApiV2,
    new_key,
    now_utc,
    run_cli,
)


class ProviderSim(SimBase):
    name = "SMM provider"

    def __init__(self, *, key: str | None = None, domain: str = "smmprovider.com",
                 rate_limit: float | None = None, seed: bool = False) -> None:
        self.key = key or new_key("prov_")
        self.domain = domain
        super().__init__(rate_limit=rate_limit, seed=seed)
        self.api = UserApiV2(self.store, self._owner)

    def _owner(self, key: str) -> str | None:
        return ANY_OWNER if key and key == self.key else None

    def _on_reset(self) -> None:
        self.api = UserApiV2(self.store, self._owner)

    @property
    def api_url(self) -> str:
        return "/api/v2"

    def seed_demo(self) -> ProviderSim:
        store = self.store
        store.add_user(ANY_OWNER, "2500.00")
        store.add_service(1, "Instagram Followers | Refill 30D | 0-1H", category="Instagram",
                          rate="0.55", min=50, max=200000, refill=True, cancel=True)
        store.add_service(2, "Instagram Likes | NR | Instant", category="Instagram",
                          rate="0.05", min=10, max=100000, cancel=True)
        store.add_service(3, "TikTok Views | NR", category="TikTok", rate="0.004", min=100,
                          max=100000000)
        store.add_service(4, "TikTok Followers | R15 | 0-2H", category="TikTok", rate="1.40",
                          min=10, max=100000, refill=True, cancel=True)
        store.add_service(5, "Spotify Plays | R90", category="Spotify", rate="0.30",
                          min=1000, max=10000000, refill=True)
        now = now_utc()
        day = timedelta(days=1)
        for order_id, service, status, age in (
            ("EXT-99812", 1, "completed", 10 * day), ("EXT-99813", 3, "in_progress",
                                                      timedelta(hours=3)),
            ("EXT-99815", 1, "partial", 6 * day), ("EXT-99816", 2, "canceled", 2 * day),
            ("EXT-99817", 2, "completed", 4 * day), ("EXT-99820", 4, "completed", 5 * day),
            ("5163781", 5, "completed", 8 * day), ("5163782", 5, "completed", 8 * day),
        ):
            store.add_order(order_id, user=ANY_OWNER, service_id=service, status=status,
                            created=now - age, remains=None)
        return self

    def routes(self) -> list[BaseRoute]:
        return [Route("/api/v2", self.guarded(self._api), methods=["GET", "POST"])]

    async def _api(self, request: Request, params: dict[str, str]) -> Response:
        return await self.api.handle(request, params)


def _make(args: argparse.Namespace) -> ProviderSim:
    return ProviderSim(key=args.user_key or args.admin_key)


def _banner(sim: Any, url: str) -> str:
    return (f"Provider simulator at {url}\n"
            f"  API v2:  {url}/api/v2   key: {sim.key}\n"
            f"  Control: {url}/_sim/refills, {url}/_sim/cancels")


def main() -> None:
    run_cli(_make, "python -m panelpilot.sim.provider",
            "SMM provider simulator (API v2) that records refill and cancel requests.",
            _banner)


if __name__ == "__main__":
    main()
