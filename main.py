"""The application factory: routers, lifespan, middleware and error handlers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from core import health
from core.config import Settings, UnsafeSettingsError, get_settings
from core.db import engine
from core.errors import register_error_handlers
from features.auth.router import router as auth_router
from features.comments.router import router as comments_router
from features.items.router import router as items_router
from features.users.router import router as users_router

API_PREFIX = "/api/v1"


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

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth_router)
    api.include_router(users_router)
    api.include_router(items_router)
    api.include_router(comments_router)
    app.include_router(api)
    app.include_router(health.router)
    return app


app = create_app()
