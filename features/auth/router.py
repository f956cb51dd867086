"""Auth routes: login (throttled), logout and logout-all (revoking), and fastapi-users'
register, password reset and e-mail verification."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from fastapi_users.authentication.transport.bearer import BearerResponse
from fastapi_users.router.common import ErrorCode

from core.errors import error_responses
from features.auth.backend import CurrentUser, CurrentUserToken, auth_backend, fastapi_users
from features.auth.manager import UserManagerDep
from features.auth.throttle import LoginThrottleDep, client_address
from features.auth.tokens import RevocableJWTStrategy
from features.users.models import UserCreate, UserRead

router = APIRouter(prefix="/auth", tags=["auth"])

Strategy = Annotated[RevocableJWTStrategy, Depends(auth_backend.get_strategy)]
# longer than any e-mail can be: refused before it costs a hash or a throttle entry
MAX_LOGIN_LENGTH = 320


@router.post(
    "/jwt/login",
    response_model=BearerResponse,
    responses={
        400: {"description": "LOGIN_BAD_CREDENTIALS: wrong login or password, or inactive user"},
        429: {"description": "LOGIN_TOO_MANY_ATTEMPTS: too many failures; see Retry-After"},
    },
)
async def login(
    request: Request,
    credentials: Annotated[OAuth2PasswordRequestForm, Depends()],
    manager: UserManagerDep,
    strategy: Strategy,
    throttle: LoginThrottleDep,
) -> Response:
    """Exchange an e-mail or username and a password for a bearer token."""
    if len(credentials.username) > MAX_LOGIN_LENGTH:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, ErrorCode.LOGIN_BAD_CREDENTIALS)
    address = client_address(request)
    await throttle.ensure_allowed(credentials.username, address)
    user = await manager.authenticate(credentials)
    if user is None or not user.is_active:
        await throttle.record_failure(credentials.username, address)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, ErrorCode.LOGIN_BAD_CREDENTIALS)
    await throttle.record_success(credentials.username, address)
    response = await auth_backend.login(strategy, user)
    await manager.on_after_login(user, request, response)
    return response


@router.post("/jwt/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401))
async def logout(user_token: CurrentUserToken, strategy: Strategy) -> None:
    """Revoke the token this request carries."""
    user, token = user_token
    await strategy.destroy_token(token, user)


@router.post(
    "/jwt/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401)
)
async def logout_all(user: CurrentUser, manager: UserManagerDep) -> None:
    """Revoke every token issued to the caller until now."""
    await manager.revoke_all_tokens(user)


router.include_router(fastapi_users.get_register_router(UserRead, UserCreate))
router.include_router(fastapi_users.get_reset_password_router())
router.include_router(fastapi_users.get_verify_router(UserRead))
