"""Settings: production refuses to start with unsafe values, and says why in one line."""

import os
import subprocess
import sys

import pytest
from fastapi import FastAPI

from conftest import ROOT
from core.config import DEFAULT_SECRET_KEY, Environment, Settings, UnsafeSettingsError
from main import create_app

STRONG_SECRET = "s" * 32
POSTGRES_URL = "postgresql+asyncpg://app:pw@db.internal/app"


def production(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "production",
        "secret_key": STRONG_SECRET,
        "database_url": POSTGRES_URL,
        "cors_origins": ["https://app.example.com"],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def test_a_safe_production_config_has_no_reasons():
    settings = production()
    assert settings.environment is Environment.PRODUCTION
    assert settings.unsafe_reasons() == []
    settings.check_safe_for_environment()


def test_sqlite_is_allowed_in_production_when_chosen_on_purpose():
    settings = production(
        database_url="sqlite+aiosqlite:///./app.db", allow_sqlite_in_production=True
    )
    assert settings.unsafe_reasons() == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"secret_key": DEFAULT_SECRET_KEY},
            ["SECRET_KEY is the development default"],
            id="default",
        ),
        pytest.param(
            {"secret_key": "s" * 31}, ["SECRET_KEY is shorter than 32 characters"], id="short"
        ),
        pytest.param(
            {"database_url": "sqlite+aiosqlite:///./app.db"},
            ["DATABASE_URL is SQLite (set ALLOW_SQLITE_IN_PRODUCTION=true to allow)"],
            id="sqlite",
        ),
        pytest.param(
            {"cors_origins": ["*"]}, ["CORS_ORIGINS allows every origin ('*')"], id="cors-star"
        ),
        pytest.param(
            {"cors_origins": ["https://app.example.com", "*"]},
            ["CORS_ORIGINS allows every origin ('*')"],
            id="cors-star-among-others",
        ),
    ],
)
def test_each_unsafe_setting_is_named(overrides, expected):
    settings = production(**overrides)

    assert settings.unsafe_reasons() == expected
    with pytest.raises(UnsafeSettingsError, match=r"^refusing to start in production: "):
        settings.check_safe_for_environment()


def test_every_reason_is_listed_together():
    settings = production(
        secret_key=DEFAULT_SECRET_KEY, database_url="sqlite:///x.db", cors_origins=["*"]
    )

    reasons = settings.unsafe_reasons()

    assert len(reasons) == 3
    with pytest.raises(UnsafeSettingsError) as raised:
        settings.check_safe_for_environment()
    message = str(raised.value)
    assert "\n" not in message
    assert all(reason in message for reason in reasons)


def test_development_accepts_the_defaults():
    settings = Settings(
        _env_file=None,
        environment="development",
        secret_key=DEFAULT_SECRET_KEY,
        database_url="sqlite+aiosqlite:///./app.db",
        cors_origins=["*"],
    )
    assert settings.unsafe_reasons() == []
    settings.check_safe_for_environment()


def test_the_environment_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    monkeypatch.setenv("CORS_ORIGINS", "*")

    settings = Settings(_env_file=None)

    assert settings.environment is Environment.PRODUCTION
    assert settings.cors_origins == ["*"]
    assert settings.unsafe_reasons() == ["CORS_ORIGINS allows every origin ('*')"]


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
        ('["https://a.example", "https://b.example"]', ["https://a.example", "https://b.example"]),
        (" https://a.example ,, ", ["https://a.example"]),
        ("", []),
    ],
)
def test_cors_origins_are_comma_separated(monkeypatch, raw, parsed):
    monkeypatch.setenv("CORS_ORIGINS", raw)
    assert Settings(_env_file=None).cors_origins == parsed


def test_an_unknown_environment_is_refused():
    with pytest.raises(ValueError, match="environment"):
        Settings(_env_file=None, environment="staging")


# -- the application factory --


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        pytest.param({"secret_key": DEFAULT_SECRET_KEY}, "SECRET_KEY", id="default-secret"),
        pytest.param({"database_url": "sqlite:///x.db"}, "DATABASE_URL", id="sqlite"),
        pytest.param({"cors_origins": ["*"]}, "CORS_ORIGINS", id="cors"),
    ],
)
def test_create_app_refuses_unsafe_production_settings(overrides, named):
    with pytest.raises(SystemExit) as raised:
        create_app(production(**overrides))

    message = str(raised.value.code)
    assert message.startswith("refusing to start in production: ")
    assert named in message
    assert "\n" not in message


def test_create_app_accepts_safe_production_settings():
    assert isinstance(create_app(production()), FastAPI)


def _run_import_main(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "ENVIRONMENT", "CORS_ORIGINS", "ALLOW_SQLITE_IN_PRODUCTION"}
    }
    environment["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_main_in_production_without_a_secret_exits(tmp_path):
    result = _run_import_main(tmp_path, ENVIRONMENT="production")

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("refusing to start in production: ")
    assert "SECRET_KEY" in lines[0]
    assert "Traceback" not in result.stderr


def test_importing_main_in_production_with_safe_settings_starts(tmp_path):
    result = _run_import_main(
        tmp_path,
        ENVIRONMENT="production",
        SECRET_KEY=STRONG_SECRET,
        ALLOW_SQLITE_IN_PRODUCTION="true",
    )

    assert result.returncode == 0, result.stderr
