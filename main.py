"""The application factory: routers, lifespan, middleware and error handlers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from core import health, logs, metrics, openapi
from core.config import API_PREFIX, Settings, UnsafeSettingsError, get_settings
from core.db import engine
from core.errors import register_error_handlers
from core.limits import RequestLimitMiddleware
from features.auth import router as auth
from features.auth.dependencies import current_user
from features.comments import router as comments
from features.comments import service as comments_service
from features.items import counts as items_counts
from features.items import router as items
from features.users import router as users
from features.users import service as users_service

# Swagger's sections and what clients read about each tag (the first tag names a generated
# client's module: `api/items/items_create.py`).
OPENAPI_TAGS = [
    {
        "name": "auth",
        "description": "Accounts and tokens: register, log in (username or e-mail), log out, "
        "reset a password, verify an e-mail address.",
    },
    {
        "name": "users",
        "description": "One's own account, other users as they may be seen, and the "
        "superuser's administration of accounts.",
    },
    {
        "name": "items",
        "description": "Items with tags, public or private: create, list and search, change, "
        "delete, create in bulk, transfer to another user and read the transfer log.",
    },
    {
        "name": "comments",
        "description": "Threaded comments on the items the caller may see; only the author "
        "edits, the author, the item's owner or a superuser deletes.",
    },
    {"name": "health", "description": "Liveness and readiness probes (outside `/api/v1`)."},
    {
        "name": "operations",
        "description": "What operators scrape: Prometheus metrics (outside `/api/v1`).",
    },
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # after the server's own signal handlers: SIGTERM flips readiness to 503, then drains
    health.drain_on_signals(app)
    try:
        yield
    finally:
        await engine.dispose()
        metrics.forget_this_process()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    try:
        settings.check_safe_for_environment()
    except UnsafeSettingsError as error:
        # one line that says why, rather than a traceback
        raise SystemExit(str(error)) from None

    # Swagger UI and ReDoc assets come from the app itself: /docs renders with no CDN.
    app = FastAPIOffline(
        title="Items API",
        version="0.1.0",
        description=(
            "Users, items with tags and ownership transfer, and threaded comments.\n\n"
            "**Authorize** with your username *or* e-mail and your password; the token lasts "
            'until it expires or you log out. Every error answers `{"detail": ...}`: a code, '
            "a `{code, reason}` object, or (422) the list of validation problems; each "
            "operation lists its codes."
        ),
        lifespan=lifespan,
        openapi_tags=OPENAPI_TAGS,
        swagger_ui_parameters={"persistAuthorization": True},
    )
    openapi.install(app)
    logs.configure_logging(settings)
    # Plain ASGI middleware, innermost first (each add_middleware wraps the ones before it).
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    # bodies over their cap (413) and oversized heads (431), before any route reads a byte
    app.add_middleware(
        RequestLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_caps={("POST", f"{API_PREFIX}/items/bulk"): settings.max_bulk_body_bytes},
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
    )
    # one log line and the metrics of every request, 413/431 included
    app.add_middleware(logs.RequestLogMiddleware, metrics=settings.metrics_enabled)
    # outermost: the request id is known to every line logged while answering
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name=logs.REQUEST_ID_HEADER,
        validator=logs.valid_request_id,
    )
    register_error_handlers(app)
    health.register_check(app, "database", health.database_check)
    if settings.metrics_enabled:
        metrics.watch_pool(engine)

    # A user's comments elsewhere must be dealt with before the user's row goes.
    users_service.on_user_deletion(comments_service.forget_author)
    # the item counts drop the user's items before the cascade deletes them
    users_service.on_user_deletion(items_counts.forget_owner)

    # Every route is authenticated unless it is declared on a public router.
    # (its 401 is declared by current_user itself: see core/openapi.py)
    authenticated = APIRouter(dependencies=[Depends(current_user)])
    for feature in (auth, users, items, comments):
        authenticated.include_router(feature.router)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth.public_router)
    api.include_router(authenticated)
    app.include_router(api)
    app.include_router(health.router)
    if settings.metrics_enabled:
        app.include_router(metrics.router)
    return app


app = create_app()
