"""Liveness and readiness probes, and the registry of the backing services readiness checks.

A check is an async callable of no arguments that raises (or returns False) when its service
is unavailable. main.py registers the database's; a feature with a service of its own registers
its check from the lifespan (`health.register_check(app, "redis", throttle.check)`).
Readiness answers 503 while any check fails, naming which, and from the moment the process was
told to stop (SIGTERM), so that a load balancer sends it nothing new while it drains.
"""

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from core.db import read_engine as engine
from core.errors import describe_failure, retry_after_headers

logger = logging.getLogger(__name__)

Check = Callable[[], Awaitable[object]]
OK = "ok"
UNAVAILABLE = "unavailable"
# a check that hangs is a failing check
CHECK_TIMEOUT_SECONDS = 3.0

_CHECKS = "health_checks"
_DRAINING = "draining"

router = APIRouter(prefix="/health", tags=["health"])


def register_check(app: FastAPI, name: str, check: Check) -> None:
    """Make readiness depend on `check` and name it `name` in its answer."""
    checks = _checks(app)
    if name in checks and checks[name] != check:  # a bound method is a new object each time
        raise ValueError(f"a readiness check named {name!r} is already registered")
    checks[name] = check


def _checks(app: FastAPI) -> dict[str, Check]:
    checks: dict[str, Check] | None = getattr(app.state, _CHECKS, None)
    if checks is None:
        checks = {}
        setattr(app.state, _CHECKS, checks)
    return checks


async def database_check() -> None:
    """The database answers `SELECT 1`."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def start_draining(app: FastAPI) -> None:
    """From now on readiness answers 503 (the process is shutting down)."""
    setattr(app.state, _DRAINING, True)


def is_draining(app: FastAPI) -> bool:
    return bool(getattr(app.state, _DRAINING, False))


def drain_on_signals(
    app: FastAPI, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)
) -> None:
    """Flip readiness to 503 when the server is told to stop, then let the server's own
    handler (uvicorn's: stop accepting, finish what is in flight) run as before.

    Called from the lifespan, after the server installed its handlers. Only the main thread
    may set signal handlers: elsewhere (an app run in a test thread) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in signals:
        previous = signal.getsignal(signum)
        if getattr(previous, "_drains", False):
            continue  # already chained (a second lifespan on the same app)

        def handler(sig: int, frame: FrameType | None, previous: Any = previous) -> None:
            start_draining(app)
            if callable(previous):
                previous(sig, frame)
            else:  # no server handler: stop as the default would
                signal.signal(sig, previous or signal.SIG_DFL)
                signal.raise_signal(sig)

        handler._drains = True  # type: ignore[attr-defined]  # marks our own handler
        signal.signal(signum, handler)


async def _run(name: str, check: Check) -> str:
    try:
        result = await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure of a backing service means "not ready"
        logger.warning("readiness check %r failed: %s", name, describe_failure(exc))
        return UNAVAILABLE
    if result is False:
        logger.warning("readiness check %r failed", name)
        return UNAVAILABLE
    return OK


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    """Whether the process can serve requests, and the state of each backing service."""

    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]
    # only when Redis is configured (the login throttle's storage)
    redis: Literal["ok", "unavailable"] | None = None


@router.get("", operation_id="health_live", summary="Liveness probe")
async def liveness() -> Liveness:
    """The process is up."""
    return Liveness(status="ok")


@router.get(
    "/ready",
    operation_id="health_ready",
    summary="Readiness probe",
    responses={
        200: {"model": Readiness, "description": "Ready"},
        503: {
            "model": Readiness,
            "description": "A backing service fails (named), or the process is stopping",
        },
    },
)
async def readiness(request: Request) -> JSONResponse:
    """The process is up, not stopping, and every backing service answers."""
    app: FastAPI = request.app
    checks = _checks(app)
    results = await asyncio.gather(*(_run(name, check) for name, check in checks.items()))
    answers = dict(zip(checks, results, strict=True))
    if is_draining(app) or UNAVAILABLE in results:
        return JSONResponse(
            {"status": UNAVAILABLE, **answers},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers=retry_after_headers(),
        )
    return JSONResponse({"status": OK, **answers})
