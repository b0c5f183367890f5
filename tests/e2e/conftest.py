"""Fixtures for whole-flow tests over the simulators."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from panelpilot.channels.polling import PollingRunner
from panelpilot.settings import Settings
from tests.e2e.harness import Stack, build_stack


@pytest.fixture(autouse=True)
def fast_runners(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pick up new polling accounts quickly instead of every few seconds.
    monkeypatch.setattr(PollingRunner, "interval", 0.1)
    monkeypatch.setattr("panelpilot.channels.polling.TELEGRAM_POLL_TIMEOUT", 1)
    monkeypatch.setattr("panelpilot.channels.polling.GREENAPI_POLL_TIMEOUT", 5)


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async for s in build_stack(settings):
        yield s
