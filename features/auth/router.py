"""Auth routes: registration, login (throttled), logout and logout-all (revoking), password
reset and e-mail verification.

`public_router` holds the routes a caller without a token uses; everything on `router` is
authenticated (see main.py).
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request, status

from core.codes import ErrorCode
from core.db import SessionDep
from core.errors import BadRequest, TooManyRequests, error_responses
from features.auth import tokens
from features.auth.dependencies import BearerToken, CurrentUser
from features.auth.manager import UserManagerDep
from features.auth.models import (
    AccessToken,
    EmailAddress,
    LoginForm,
    PasswordReset,
    VerificationToken,
)
from features.auth.throttle import client_address
from features.users.models import PASSWORD_RULE, User, UserCreate, UserRead

public_router = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(prefix="/auth", tags=["auth"])


@public_router.post(
    "/register",
    operation_id="auth_register",
    summary="Register",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(
        BadRequest(ErrorCode.REGISTER_USER_ALREADY_EXISTS),
        BadRequest(ErrorCode.REGISTER_INVALID_PASSWORD, reason=PASSWORD_RULE),
    ),
)
async def register(body: UserCreate, manager: UserManagerDep) -> User:
    """Create an account."""
    return await manager.register(body)


@public_router.post(
    "/jwt/login",
    operation_id="auth_login",
    summary="Log in",
    response_model=AccessToken,
    responses=error_responses(
        BadRequest(ErrorCode.LOGIN_BAD_CREDENTIALS),
        TooManyRequests(ErrorCode.LOGIN_TOO_MANY_ATTEMPTS, retry_after=1),
    ),
)
async def login(
    request: Request, credentials: Annotated[LoginForm, Form()], manager: UserManagerDep
) -> AccessToken:
    """Exchange an e-mail or username and a password for a bearer token."""
    user = await manager.log_in(credentials, address=client_address(request))
    return AccessToken(access_token=tokens.issue_access_token(user))


@router.post(
    "/jwt/logout",
    operation_id="auth_logout",
    summary="Log out",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def logout(token: BearerToken, _user: CurrentUser, session: SessionDep) -> None:
    """Revoke the token this request carries."""
    await tokens.revoke_token(session=session, token=token)


@router.post(
    "/jwt/logout-all",
    operation_id="auth_logout_all",
    summary="Log out everywhere",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def logout_all(user: CurrentUser, manager: UserManagerDep) -> None:
    """Revoke every token issued to the caller until now."""
    await manager.revoke_all_tokens(user)


@public_router.post(
    "/forgot-password",
    operation_id="auth_forgot_password",
    summary="Ask for a password reset token",
    status_code=status.HTTP_202_ACCEPTED,
)
async def forgot_password(body: EmailAddress, manager: UserManagerDep) -> None:
    """Mail a password reset token, if the address belongs to an active user."""
    await manager.send_reset_token(body.email)


@public_router.post(
    "/reset-password",
    operation_id="auth_reset_password",
    summary="Reset the password",
    responses=error_responses(
        BadRequest(ErrorCode.RESET_PASSWORD_BAD_TOKEN),
        BadRequest(ErrorCode.RESET_PASSWORD_INVALID_PASSWORD, reason=PASSWORD_RULE),
    ),
)
async def reset_password(body: PasswordReset, manager: UserManagerDep) -> None:
    """Set a new password with a reset token."""
    await manager.reset_password_with_token(body.token, body.password)


@public_router.post(
    "/request-verify-token",
    operation_id="auth_request_verify_token",
    summary="Ask for an e-mail verification token",
    status_code=status.HTTP_202_ACCEPTED,
)
async def request_verify_token(body: EmailAddress, manager: UserManagerDep) -> None:
    """Mail an e-mail verification token, if the address belongs to an unverified user."""
    await manager.send_verify_token(body.email)


@public_router.post(
    "/verify",
    operation_id="auth_verify",
    summary="Verify the e-mail address",
    response_model=UserRead,
    responses=error_responses(
        BadRequest(ErrorCode.VERIFY_USER_BAD_TOKEN),
        BadRequest(ErrorCode.VERIFY_USER_ALREADY_VERIFIED),
    ),
)
async def verify(body: VerificationToken, manager: UserManagerDep) -> User:
    """Confirm an e-mail address with its verification token."""
    return await manager.verify_with_token(body.token)
