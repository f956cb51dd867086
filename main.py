"""The application factory: routers, lifespan, middleware and error handlers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from core import health
from core.config import API_PREFIX, Settings, UnsafeSettingsError, get_settings
from core.db import engine
from core.errors import Unauthorized, error_responses, register_error_handlers
from features.auth import router as auth
from features.auth.dependencies import current_user
from features.comments import router as comments
from features.comments import service as comments_service
from features.items import counts as items_counts
from features.items import router as items
from features.users import router as users
from features.users import service as users_service


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
        description="Users, items with tags and ownership transfer, and threaded comments.",
        lifespan=lifespan,
        swagger_ui_parameters={"persistAuthorization": True},
    )
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
    # the item counts drop the user's items before the cascade deletes them
    users_service.on_user_deletion(items_counts.forget_owner)

    # Every route is authenticated unless it is declared on a public router.
    authenticated = APIRouter(
        dependencies=[Depends(current_user)], responses=error_responses(Unauthorized())
    )
    for feature in (auth, users, items, comments):
        authenticated.include_router(feature.router)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth.public_router)
    api.include_router(authenticated)
    app.include_router(api)
    app.include_router(health.router)
    return app


app = create_app()
