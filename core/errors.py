"""Errors as a vocabulary: plain exceptions that know their HTTP status, and the one place that
turns them (and the framework's and the database's errors) into `{"detail": ...}` answers.

Services raise `NotFound(ErrorCode.ITEM_NOT_FOUND)` and the like; they never build HTTP
responses. Each class knows its status, each instance its code, so a route can declare what it
may answer (`error_responses`) from the same objects it raises.
"""

import logging
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, cast

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.codes import ErrorCode

logger = logging.getLogger(__name__)

BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class DomainError(Exception):
    """An answer other than success, raised anywhere below the routes.

    `detail` is the code, or for a code that carries a reason, `{"code": …, "reason": …}`.
    """

    status_code: ClassVar[int] = status.HTTP_400_BAD_REQUEST
    description: ClassVar[str] = "Bad request"

    def __init__(
        self,
        code: ErrorCode,
        *,
        reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.reason = reason
        self.headers = dict(headers or {})

    @property
    def detail(self) -> str | dict[str, str]:
        if self.reason is None:
            return self.code.value
        return {"code": self.code.value, "reason": self.reason}


class BadRequest(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST
    description = "Bad request"


class Unauthorized(DomainError):
    status_code = status.HTTP_401_UNAUTHORIZED
    description = "Missing, invalid, expired or revoked token"

    def __init__(self, code: ErrorCode = ErrorCode.UNAUTHORIZED) -> None:
        super().__init__(code, headers=BEARER_CHALLENGE)


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    description = "Not allowed"


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    description = "Not found (or not visible to the caller)"


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    description = "Conflict"


class PreconditionFailed(DomainError):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    description = "A precondition (If-Match) does not hold; the current ETag is sent back"


class UnprocessableEntity(DomainError):
    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    description = "Invalid input (a list of validation errors), or a refused request"


class TooManyRequests(DomainError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    description = "Too many attempts; see Retry-After"

    def __init__(self, code: ErrorCode, *, retry_after: int) -> None:
        super().__init__(code, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(DomainError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    description = "A backing service failed or is unreachable; retry later"


class ReadyResponse(Exception):
    """Raised by a dependency that already holds the whole answer (an idempotent replay): that
    response is sent as it is, the route does not run, and the unit of work is rolled back."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class ErrorBody(BaseModel):
    """Every error answer: a code, a code with a reason, or the list of validation errors."""

    detail: str | dict[str, str] | list[dict[str, Any]]


def error_responses(*errors: DomainError) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the errors a route may answer, with their codes."""
    by_status: dict[int, list[DomainError]] = {}
    for error in errors:
        by_status.setdefault(error.status_code, []).append(error)
    return {
        code: {
            "model": ErrorBody,
            "description": _describe(found[0].description, (error.code for error in found)),
        }
        for code, found in sorted(by_status.items())
    }


def _describe(description: str, codes: Iterable[ErrorCode]) -> str:
    listed = ", ".join(f"`{code.value}`" for code in dict.fromkeys(codes))
    return f"{description}: {listed}"


# -- answers --


def _answer(code: int, detail: Any, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=code, headers=dict(headers or {}))


async def _on_domain_error(_request: Request, exc: Exception) -> JSONResponse:
    error = cast(DomainError, exc)  # registered for this class
    return _answer(error.status_code, error.detail, error.headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The default handler echoes the input back; input holding a lone surrogate cannot be
    # encoded as JSON and turned a 422 into a 500. Location, message and type are enough.
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]


async def _on_ready_response(_request: Request, exc: Exception) -> Response:
    return cast(ReadyResponse, exc).response


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    detail = jsonable_encoder(_validation_errors(cast(RequestValidationError, exc)))
    return _answer(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    # the framework's own answers: unknown route, wrong method, unparseable body
    error = cast(StarletteHTTPException, exc)
    headers = dict(error.headers or {})
    if error.status_code == status.HTTP_401_UNAUTHORIZED:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return _answer(error.status_code, error.detail, headers)


async def _on_integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    # A race reached a constraint a pre-check missed: the request lost, nothing was written.
    logger.info("integrity error answered with 409: %s", exc.__class__.__name__)
    return _answer(status.HTTP_409_CONFLICT, ErrorCode.CONFLICT.value)


async def _on_service_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("database failed or unreachable", exc_info=exc)
    return _answer(status.HTTP_503_SERVICE_UNAVAILABLE, ErrorCode.SERVICE_UNAVAILABLE.value)


async def _on_unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return _answer(status.HTTP_500_INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL_ERROR.value)


def register_error_handlers(app: FastAPI) -> None:
    # handlers are looked up by the exception's class, so each receives the type it names
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(ReadyResponse, _on_ready_response)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(IntegrityError, _on_integrity_error)
    app.add_exception_handler(DBAPIError, _on_service_unavailable)
    # the database unreachable (connection refused) or the pool exhausted: unavailable, not a bug
    app.add_exception_handler(OSError, _on_service_unavailable)
    app.add_exception_handler(PoolTimeoutError, _on_service_unavailable)
    app.add_exception_handler(Exception, _on_unexpected_error)
