"""Login throttling: too many failed logins answer 429 before any password is checked.

Two moving windows count failures: one per login name and client address (stops a guesser at
one address quickly), one per login name from anywhere (a looser bound for guessers spread over
many addresses). A successful login clears the first. Counts live in `limits`' storage:
process memory by default, Redis (`RATE_LIMIT_STORAGE_URL=async+redis://…`) when several
workers must share them.
"""

import time
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from core.codes import ErrorCode
from core.config import get_settings
from core.errors import TooManyRequests

# what a window counts under: the login name, and the client address for the stricter window
Keys = tuple[str, ...]


class LoginThrottle:
    def __init__(
        self,
        *,
        storage_url: str,
        window_seconds: int,
        max_failures_per_address: int,
        max_failures_per_login: int,
    ) -> None:
        self.storage = storage_from_string(storage_url)
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._per_address = RateLimitItemPerSecond(max_failures_per_address, window_seconds)
        self._per_login = RateLimitItemPerSecond(max_failures_per_login, window_seconds)

    def _windows(
        self, login: str, address: str
    ) -> list[tuple[RateLimitItemPerSecond, tuple[str, ...]]]:
        login = login.casefold()
        return [
            (self._per_address, ("login", login, address)),
            (self._per_login, ("login", login)),
        ]

    async def ensure_allowed(self, login: str, address: str) -> None:
        """429 with `Retry-After` when this login has failed too often lately."""
        for limit, keys in self._windows(login, address):
            if not await self._limiter.test(limit, *keys):
                stats = await self._limiter.get_window_stats(limit, *keys)
                retry_after = max(1, int(stats.reset_time - time.time()) + 1)
                raise TooManyRequests(ErrorCode.LOGIN_TOO_MANY_ATTEMPTS, retry_after=retry_after)

    async def record_failure(self, login: str, address: str) -> None:
        for limit, keys in self._windows(login, address):
            await self._limiter.hit(limit, *keys)

    async def record_success(self, login: str, address: str) -> None:
        limit, keys = self._windows(login, address)[0]
        await self._limiter.clear(limit, *keys)


@lru_cache
def get_login_throttle() -> LoginThrottle:
    """The process's throttle, configured from the settings."""
    settings = get_settings()
    return LoginThrottle(
        storage_url=settings.rate_limit_storage_url,
        window_seconds=settings.login_failure_window_seconds,
        max_failures_per_address=settings.login_max_failures_per_address,
        max_failures_per_login=settings.login_max_failures_per_login,
    )


LoginThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: see --proxy-headers)."""
    return request.client.host if request.client else "unknown"
