"""The application factory: routers, lifespan, middleware and error handlers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from core import health, openapi
from core.config import API_PREFIX, Settings, UnsafeSettingsError, get_settings
from core.db import engine
from core.errors import register_error_handlers
from features.auth import router as auth
from features.auth.dependencies import current_user
from features.comments import router as comments
from features.comments import service as comments_service
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
]


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


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
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    register_error_handlers(app)

    # A user's comments elsewhere must be dealt with before the user's row goes.
    users_service.on_user_deletion(comments_service.forget_author)

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
    return app


app = create_app()
