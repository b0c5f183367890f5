"""Paging for list endpoints: ``?limit=&before=`` on descending ids."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

Limit = Annotated[int, Query(ge=1, le=500, description="Rows per page.")]
Before = Annotated[int | None, Query(ge=1, description="Only rows with a smaller id (next page).")]
