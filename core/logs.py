"""Log lines: one structured line per request, the request id in every line.

structlog renders every record, ours and the libraries' (stdlib `logging`, uvicorn's), as a
JSON line (`LOG_FORMAT=json`, the default in production) or as readable text. The request id
(asgi-correlation-id's contextvar, set from `X-Request-ID`) is added to each line written while
a request is being answered, errors included.

`RequestLogMiddleware` writes the request's line when its answer is complete: method, route
template (never the raw path), status, duration, and the user id that the auth dependency left
in `request.state.user_id`. Neither headers, query strings nor bodies are logged. It replaces
uvicorn's access line (turned off here, whatever way uvicorn was started).
"""

import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import structlog
from asgi_correlation_id import correlation_id
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings
from core.metrics import IN_PROGRESS, UNMATCHED_ROUTE, method_label, observe_request

REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID_LENGTH = 128

access_logger = structlog.stdlib.get_logger("items_api.request")

_HANDLER_MARK = "_items_api_handler"


def valid_request_id(value: str) -> bool:
    """A caller's request id is kept when it is 1–128 visible ASCII characters."""
    return 0 < len(value) <= MAX_REQUEST_ID_LENGTH and all("!" <= c <= "~" for c in value)


def request_id() -> str | None:
    """The id of the request being answered, if any."""
    return correlation_id.get()


def _add_request_id(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    current = correlation_id.get()
    if current is not None:
        event_dict.setdefault("request_id", current)
    return event_dict


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Route every log record through structlog's renderer, once per process (calling it
    again replaces the handler it installed)."""
    shared: list[Callable[..., Any]] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_id,
    ]
    rendering: list[Callable[..., Any]] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta
    ]
    if settings.log_json:
        # a traceback becomes one "exception" string inside the line
        rendering += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        # plain tracebacks: with `rich` installed (a dev tool brings it) structlog would print
        # every frame's local variables — slow, and a way for secrets to reach the log
        rendering.append(
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            )
        )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=rendering)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # uvicorn's own lines go through the same renderer; its access line is replaced by ours
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True


def route_template(scope: Scope) -> str:
    """The matched route's path template, prefixes included (`/api/v1/items/{item_id}`)."""
    # FastAPI ≥ 0.16x keeps an included router's routes unprefixed (`scope["route"].path` is
    # `/items/{item_id}`) and records the effective, prefixed one here; a test holds us to it.
    fastapi_scope = scope.get("fastapi")
    context = (
        fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, dict) else None
    )
    path = getattr(context, "path_format", None) or getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestLogMiddleware:
    """One log line and the request metrics for every HTTP request (plain ASGI)."""

    def __init__(self, app: ASGIApp, *, metrics: bool = True) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app answers otherwise
        method = scope["method"]

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress = IN_PROGRESS.labels(method_label(method)) if self.metrics else None
        if in_progress is not None:
            in_progress.inc()
        failed = False
        try:
            await self.app(scope, receive, send_with_status)
        except BaseException:
            failed = True
            status = 500
            raise
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            if in_progress is not None:
                in_progress.dec()
                observe_request(method, route, status, seconds)
            state = scope.get("state") or {}
            user_id = state.get("user_id")
            log = access_logger.error if failed or status >= 500 else access_logger.info
            log(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(seconds * 1000, 2),
                user_id=str(user_id) if user_id is not None else None,
            )
