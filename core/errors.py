"""Errors as a vocabulary: plain exceptions that know their HTTP status, and the one place that
turns them (and the framework's and the database's errors) into `{"detail": ...}` answers.

Services raise `NotFound(ErrorCode.ITEM_NOT_FOUND)` and the like; they never build HTTP
responses. Each class knows its status, each instance its code, so a route can declare what it
may answer (`error_responses`) from the same objects it raises.
"""

import copy
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar, cast

import asyncpg
from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.codes import ErrorCode
from core.config import get_settings

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
    description = (
        "The request conflicts with the current state (a concurrent change won); "
        "nothing was written"
    )


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


class PayloadTooLarge(DomainError):
    status_code = status.HTTP_413_CONTENT_TOO_LARGE
    description = "The request body is larger than this route accepts"


class ServiceUnavailable(DomainError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    description = "A backing service failed or is unreachable; retry later"


class HeadersTooLarge(DomainError):
    status_code = status.HTTP_431_REQUEST_HEADER_FIELDS_TOO_LARGE
    description = "The request's headers are too large or too many"


class ReadyResponse(Exception):
    """Raised by a dependency that already holds the whole answer (an idempotent replay): that
    response is sent as it is, the route does not run, and the unit of work is rolled back."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# -- what clients read: the error schema and the errors each route declares --


class ErrorReason(BaseModel):
    """A code that carries a human-readable reason (e.g. why a password was refused)."""

    code: str
    reason: str


class ValidationIssue(BaseModel):
    """One problem with the request: where (`loc`), what (`msg`) and its kind (`type`)."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer: a code, a code with a reason, or (422) the list of problems."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": ErrorCode.ITEM_NOT_FOUND.value}]}
    )

    detail: str | ErrorReason | list[ValidationIssue]


class ErrorResponse(dict[str, Any]):
    """A `responses=` entry that remembers the errors it declares, so that core/openapi.py can
    merge them with those of the route's dependencies (codes, examples, headers)."""

    def __init__(self, errors: Iterable[DomainError]) -> None:
        self.errors = tuple(errors)
        super().__init__(description=describe(self.errors))

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        # FastAPI deep-copies an entry to write it out: the OpenAPI text is all it needs
        return copy.deepcopy(dict(self), memo)


def error_responses(*errors: DomainError) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the errors a route may answer, grouped by status.

    Declare here what the route's own code (its services) may raise; what its dependencies
    raise is declared on them (`raises`) and added to every route that uses them.
    """
    by_status: dict[int, list[DomainError]] = {}
    for error in errors:
        by_status.setdefault(error.status_code, []).append(error)
    return {code: ErrorResponse(found) for code, found in sorted(by_status.items())}


def describe(errors: Iterable[DomainError]) -> str:
    """One status's description: what it means, then the `detail` codes it carries."""
    errors = list(errors)
    listed = ", ".join(f"`{code.value}`" for code in dict.fromkeys(e.code for e in errors))
    return f"{errors[0].description}. `detail`: {listed}"


# The errors a dependency may raise, keyed by the dependency callable (what `Depends()` holds),
# each with the methods for which it cannot happen: every route whose dependency tree holds
# the callable declares them (core/openapi.py walks the trees).
_DECLARED: dict[Any, list[tuple[DomainError, frozenset[str]]]] = {}

Dependency = TypeVar("Dependency")


def raises(
    *errors: DomainError, except_methods: Iterable[str] = ()
) -> Callable[[Dependency], Dependency]:
    """Declare what a dependency may raise; as a decorator, or called on any callable:

        @raises(NotFound(ErrorCode.ITEM_NOT_FOUND))
        async def visible_item(...) -> Item: ...

    `except_methods`: where it cannot happen (a read never loses a race to a constraint).
    """
    skipped = frozenset(method.upper() for method in except_methods)

    def declare(dependency: Dependency) -> Dependency:
        _DECLARED.setdefault(dependency, []).extend((error, skipped) for error in errors)
        return dependency

    return declare


def declared_errors(dependency: object, method: str) -> list[DomainError]:
    """What `dependency` was declared to raise for a request of this method."""
    try:
        declared = _DECLARED.get(dependency, [])
    except TypeError:  # an unhashable callable declares nothing
        return []
    return [error for error, skipped in declared if method.upper() not in skipped]


# -- answers --


def retry_after_headers() -> dict[str, str]:
    """`Retry-After`, as every 503 carries it."""
    return {"Retry-After": str(get_settings().retry_after_seconds)}


def _answer(code: int, detail: Any, headers: Mapping[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if code == status.HTTP_503_SERVICE_UNAVAILABLE:
        headers.setdefault("Retry-After", retry_after_headers()["Retry-After"])
    return JSONResponse({"detail": detail}, status_code=code, headers=headers)


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


FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _undecodable_json(request: Request, error: StarletteHTTPException) -> list[dict[str, Any]]:
    """The validation error for a JSON body that the decoder gave up on, else [].

    FastAPI answers 422 `json_invalid` only when `json.loads` raises a JSONDecodeError; bytes
    that are not UTF-8 (UnicodeDecodeError), an integer of over 4 300 digits (ValueError) or
    nesting deeper than the interpreter's stack (RecursionError) became a bare 400. They are
    malformed JSON like any other.
    """
    cause = error.__cause__
    if error.status_code != status.HTTP_400_BAD_REQUEST or not isinstance(
        cause, ValueError | RecursionError
    ):
        return []
    if request.headers.get("content-type", "").lower().startswith(FORM_CONTENT_TYPES):
        return []
    position = cause.start if isinstance(cause, UnicodeDecodeError) else 0
    return [{"loc": ["body", position], "msg": "JSON decode error", "type": "json_invalid"}]


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    # the framework's own answers: unknown route, wrong method, unparseable body
    error = cast(StarletteHTTPException, exc)
    if undecodable := _undecodable_json(request, error):
        return _answer(status.HTTP_422_UNPROCESSABLE_CONTENT, undecodable)
    headers = dict(error.headers or {})
    if error.status_code == status.HTTP_401_UNAUTHORIZED:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return _answer(error.status_code, error.detail, headers)


async def _on_integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    # A race reached a constraint a pre-check missed: the request lost, nothing was written.
    logger.info("integrity error answered with 409: %s", exc.__class__.__name__)
    return _answer(status.HTTP_409_CONFLICT, ErrorCode.CONFLICT.value)


def describe_failure(exc: BaseException) -> str:
    """What a log line says of a database failure: the error classes and the driver's message,
    never SQLAlchemy's rendering of the statement and its parameters."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    if orig is None:
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return f"{type(exc).__name__} ({type(orig).__name__}): {str(orig)[:300]}"


async def _on_service_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # An outage answers many requests at once: one line each, no traceback.
    logger.warning("database failed or unreachable: %s", describe_failure(exc))
    return _answer(status.HTTP_503_SERVICE_UNAVAILABLE, ErrorCode.SERVICE_UNAVAILABLE.value)


async def _on_unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    # answered outside the middleware that adds the request id to every other answer
    request_id = correlation_id.get()
    headers = {"X-Request-ID": request_id} if request_id else None
    return _answer(status.HTTP_500_INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL_ERROR.value, headers)


# The database unavailable, by class. SQLAlchemy wraps what the driver raises on a working
# connection (DBAPIError: a dropped connection, a statement or lock timeout, SQLite's "database
# is locked"), but not what asyncpg raises while it connects, nor the pool's own timeout:
UNAVAILABLE: tuple[type[Exception], ...] = (
    DBAPIError,  # IntegrityError, a subclass, has its own handler (409)
    PoolTimeoutError,  # the pool exhausted (DB_POOL_TIMEOUT)
    OSError,  # refused, reset, unreachable host, connect timeout (TimeoutError)
    # the server refusing a new connection (asyncpg, unwrapped): SQLSTATE classes
    asyncpg.PostgresConnectionError,  # 08: connection exception (ConnectionDoesNotExistError…)
    asyncpg.exceptions.OperatorInterventionError,  # 57: shutting down, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,  # 55000: ALLOW_CONNECTIONS false
    asyncpg.exceptions.InvalidCatalogNameError,  # 3D000: the database is gone
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,  # 28: role refused
    asyncpg.InterfaceError,  # the connection closed under the driver
)


def register_error_handlers(app: FastAPI) -> None:
    # handlers are looked up by the exception's class, so each receives the type it names
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(ReadyResponse, _on_ready_response)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(IntegrityError, _on_integrity_error)
    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _on_service_unavailable)
    app.add_exception_handler(Exception, _on_unexpected_error)
