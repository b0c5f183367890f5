"""Per-feature additions to the console isolation test (``tests/console/test_isolation.py``).

Each module here describes the pages of one feature area and defines:

- ``BODIES``: a valid form for each of its POST routes (path as registered, with placeholders);
- ``OBJECT_PARAMS``: the path placeholders that name one object of the workspace (the test
  proves an outsider cannot reach acme's objects through its own workspace);
- ``OWNER_ONLY`` (optional): path prefixes of pages agents may not even open (403);
- ``async def seed(ctx, tenants, ids) -> dict[str, str]``: add acme's objects; return the ids
  that fill its placeholders (``ids`` holds what the base seed made: channel "tg", chat_pk…);
- ``async def snapshot(ctx, session) -> dict[str, Any]``: what its routes could change, read in
  a session scoped to the workspace.
"""

from __future__ import annotations

from tests.console.isolation_parts import analytics, linked, logs, setup

PARTS = [setup, linked, logs, analytics]
