"""The yardstick: a bare FastAPI endpoint that only parses the update, nothing else."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/hooks/telegram/{public_id}")
async def hook(request: Request, public_id: str) -> Response:
    json.loads(await request.body())
    return Response(status_code=200)
