"""Liveness and readiness probes."""

import logging
from typing import Literal

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from core.db import read_engine as engine

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/health", tags=["health"])


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    """Whether the process can serve requests, and the state of each backing service."""

    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]


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
        503: {"model": Readiness, "description": "The database does not answer"},
    },
)
async def readiness() -> JSONResponse:
    """The process is up and the database answers `SELECT 1`."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        logger.exception("readiness check failed")
        return JSONResponse(
            {"status": "unavailable", "database": "unavailable"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return JSONResponse({"status": "ok", "database": "ok"})
