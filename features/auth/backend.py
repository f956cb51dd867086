"""Bearer JWT authentication and the current-user dependencies every feature uses."""

import uuid
from typing import Annotated

from fastapi import Depends
from fastapi_users import FastAPIUsers
from fastapi_users.authentication import AuthenticationBackend, BearerTransport

from core.config import get_settings
from features.auth.manager import get_user_manager
from features.auth.tokens import RevocableJWTStrategy
from features.users.models import User

bearer_transport = BearerTransport(tokenUrl="/api/v1/auth/jwt/login")


def get_jwt_strategy() -> RevocableJWTStrategy:
    settings = get_settings()
    return RevocableJWTStrategy(
        secret=settings.secret_key, lifetime_seconds=settings.access_token_expire_minutes * 60
    )


auth_backend = AuthenticationBackend(
    name="jwt", transport=bearer_transport, get_strategy=get_jwt_strategy
)

fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])

current_active_user = fastapi_users.current_user(active=True)
current_superuser = fastapi_users.current_user(active=True, superuser=True)

CurrentUser = Annotated[User, Depends(current_active_user)]
# the user and the raw token they presented (logout revokes that token)
CurrentUserToken = Annotated[
    tuple[User, str], Depends(fastapi_users.authenticator.current_user_token(active=True))
]
CurrentSuperuser = Annotated[User, Depends(current_superuser)]
