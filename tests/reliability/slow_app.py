"""The app with one extra, slow route: a request that is still in flight when SIGTERM comes."""

import asyncio

from fastapi import Request

from core import health
from main import create_app

app = create_app()


@app.get("/test/slow")
async def slow(request: Request, seconds: float = 2.0) -> dict[str, bool]:
    await asyncio.sleep(seconds)
    # what readiness would answer now: draining once the stop signal arrived
    return {"draining": health.is_draining(request.app)}
