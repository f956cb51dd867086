"""Application settings: the one place that reads the environment (and `.env`)."""

import json
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Every route but the health checks lives under this prefix.
API_PREFIX = "/api/v1"

DEFAULT_SECRET_KEY = "change-me-development-only-secret-key"  # noqa: S105 - refused in production
MIN_SECRET_KEY_LENGTH = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class UnsafeSettingsError(RuntimeError):
    """Raised when production mode is asked to run with an unsafe setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite+aiosqlite:///./app.db"
    # Production refuses SQLite unless this says it was chosen on purpose.
    allow_sqlite_in_production: bool = False

    secret_key: str = DEFAULT_SECRET_KEY
    access_token_expire_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)

    # Failed logins allowed per window before 429 (see features/auth/throttle.py).
    login_failure_window_seconds: int = Field(default=300, ge=1)
    login_max_failures_per_address: int = Field(default=5, ge=1)
    login_max_failures_per_login: int = Field(default=20, ge=1)
    # `limits` storage for the counts: memory (one process) or async+redis://host:port
    rate_limit_storage_url: str = "async+memory://"

    # How long an Idempotency-Key's answer is kept for replays (see core/idempotency.py).
    idempotency_ttl_seconds: int = Field(default=86_400, ge=1, le=366 * 86_400)

    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=30.0, gt=0)
    db_pool_recycle: int = Field(default=1800, ge=-1)
    db_echo: bool = False
    # PostgreSQL: a statement (or a wait for a lock) running longer is cancelled → 503.
    db_statement_timeout_ms: int = Field(default=5000, ge=0)
    db_lock_timeout_ms: int = Field(default=3000, ge=0)
    # asyncpg: seconds to open a connection before giving up (→ 503).
    db_connect_timeout: float = Field(default=5.0, gt=0)
    # SQLite: milliseconds a writer waits for the write lock before "database is locked".
    sqlite_busy_timeout_ms: int = Field(default=30000, ge=0)
    # Seconds a client is told to wait (Retry-After) when a backing service is unavailable.
    retry_after_seconds: int = Field(default=5, ge=1)

    # Request limits (see core/limits.py): bodies, and the request head.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    max_bulk_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    max_header_count: int = Field(default=100, ge=10)

    # Operations: log lines, metrics, worker processes (see serve.py).
    log_format: LogFormat | None = None  # default: json in production, text otherwise
    log_level: str = "INFO"
    metrics_enabled: bool = True
    web_concurrency: int = Field(default=1, ge=1)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # seconds requests in flight get to finish after SIGTERM
    graceful_shutdown_seconds: int = Field(default=30, ge=1)

    cors_origins: Annotated[list[str], NoDecode] = []

    @field_validator("cors_origins", mode="before")
    @classmethod
    def split_origins(cls, value: object) -> object:
        """Accept a comma-separated string as well as a JSON list."""
        if isinstance(value, str) and value.strip().startswith("["):
            return json.loads(value)
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def log_json(self) -> bool:
        if self.log_format is None:
            return self.environment is Environment.PRODUCTION
        return self.log_format is LogFormat.JSON

    def unsafe_reasons(self) -> list[str]:
        """What makes these settings unfit for production (empty when they are fit)."""
        if self.environment is not Environment.PRODUCTION:
            return []
        reasons = []
        if self.secret_key == DEFAULT_SECRET_KEY:
            reasons.append("SECRET_KEY is the development default")
        elif len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            reasons.append(f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters")
        if self.is_sqlite and not self.allow_sqlite_in_production:
            reasons.append("DATABASE_URL is SQLite (set ALLOW_SQLITE_IN_PRODUCTION=true to allow)")
        if "*" in self.cors_origins:
            reasons.append("CORS_ORIGINS allows every origin ('*')")
        return reasons

    def check_safe_for_environment(self) -> None:
        """Refuse, in one line, to run production with unsafe settings."""
        reasons = self.unsafe_reasons()
        if reasons:
            raise UnsafeSettingsError("refusing to start in production: " + "; ".join(reasons))


@lru_cache
def get_settings() -> Settings:
    return Settings()
