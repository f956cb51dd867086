"""Error answers: one `{"detail": ...}` shape, no internals, 401s that name the scheme."""

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class NotFoundError(HTTPException):
    def __init__(self, what: str = "Resource") -> None:
        super().__init__(status.HTTP_404_NOT_FOUND, f"{what} not found")


class ForbiddenError(HTTPException):
    def __init__(self, detail: str = "You do not have permission to do this") -> None:
        super().__init__(status.HTTP_403_FORBIDDEN, detail)


class BadRequestError(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(status.HTTP_400_BAD_REQUEST, detail)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the error codes a route may answer."""
    descriptions = {
        400: "Bad request",
        401: "Missing, invalid, expired or revoked token",
        403: "Not allowed",
        404: "Not found (or not visible to the caller)",
        409: "Conflict",
    }
    return {code: {"description": descriptions[code]} for code in codes}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The default handler echoes the input back; input holding a lone surrogate cannot be
    # encoded as JSON and turned a 422 into a 500. Location, message and type are enough.
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]


async def _on_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = jsonable_encoder(_validation_errors(exc))
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(exc.headers or {})
    if exc.status_code == status.HTTP_401_UNAUTHORIZED:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def _on_integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    # A race reached a constraint a pre-check missed: the request lost, nothing was written.
    logger.info("integrity error answered with 409: %s", exc.__class__.__name__)
    return JSONResponse(
        {"detail": "The request conflicts with existing data"},
        status_code=status.HTTP_409_CONFLICT,
    )


async def _on_service_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("database failed or unreachable", exc_info=exc)
    return JSONResponse(
        {"detail": "The service could not complete the request"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


async def _on_unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        {"detail": "Internal server error"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR
    )


def register_error_handlers(app: FastAPI) -> None:
    # handlers are looked up by the exception's class, so each receives the type it names
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(IntegrityError, _on_integrity_error)
    app.add_exception_handler(DBAPIError, _on_service_unavailable)
    # the database unreachable (connection refused) or the pool exhausted: unavailable, not a bug
    app.add_exception_handler(OSError, _on_service_unavailable)
    app.add_exception_handler(PoolTimeoutError, _on_service_unavailable)
    app.add_exception_handler(Exception, _on_unexpected_error)
