"""Start the API: migrate once, prepare the metrics directory, then run N uvicorn workers.

    python -m serve                       # settings: HOST, PORT, WEB_CONCURRENCY, ...
    python -m serve --workers 4 --host 0.0.0.0 --port 8000

What this adds to a bare `uvicorn main:app`:
- `alembic upgrade head` runs once, here, before any worker starts (`--no-migrate` skips it
  where a deploy step migrates instead);
- with METRICS_ENABLED, PROMETHEUS_MULTIPROC_DIR points at an emptied directory that every
  worker writes to (prometheus-client's multiprocess mode: `/metrics` sums all workers), and it
  is removed again on exit when this command created it;
- uvicorn runs with our bounded httptools parser (431 for oversized heads), without its own
  access log (main.py writes one structured line per request), with our log format, and with
  a bounded graceful shutdown: on SIGTERM it stops accepting, readiness answers 503, and
  requests in flight get GRACEFUL_SHUTDOWN_SECONDS to finish.
"""

import argparse
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from core.config import Settings, UnsafeSettingsError, get_settings

# Set before anything imports prometheus-client (core.logs, core.metrics, main): the library
# decides at import whether values live in the process or in that directory's files.
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

HTTP_PROTOCOL = "core.limits:BoundedHttpToolsProtocol"
ROOT = Path(__file__).parent

logger = logging.getLogger("serve")


def parse_args(argv: Sequence[str] | None, settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m serve", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument(
        "--workers", type=int, default=settings.web_concurrency, help="worker processes"
    )
    parser.add_argument(
        "--no-migrate", action="store_true", help="do not run `alembic upgrade head` first"
    )
    parser.add_argument("--app", default="main:app", help="the ASGI app (module:attribute)")
    return parser.parse_args(argv)


def migrate() -> None:
    """`alembic upgrade head`, once per start (so once per deploy), before the workers."""
    from alembic.config import Config

    from alembic import command

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False  # our log format, not alembic.ini's
    command.upgrade(config, "head")


@contextmanager
def metrics_directory(settings: Settings) -> Iterator[Path | None]:
    """An empty PROMETHEUS_MULTIPROC_DIR for this run's workers (the caller's own if set)."""
    if not settings.metrics_enabled:
        yield None
        return
    given = os.environ.get(MULTIPROC_DIR_VARIABLE)
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="items-api-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # values of a previous run's dead processes
        stale.unlink()
    os.environ[MULTIPROC_DIR_VARIABLE] = str(directory)
    try:
        yield directory
    finally:
        if given:
            for leftover in directory.glob("*.db"):
                leftover.unlink()
        else:
            shutil.rmtree(directory, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    settings = get_settings()
    try:
        settings.check_safe_for_environment()
    except UnsafeSettingsError as error:
        raise SystemExit(str(error)) from None
    args = parse_args(argv, settings)
    with metrics_directory(settings) as directory:
        from core.logs import configure_logging  # after the metrics directory is known

        configure_logging(settings)
        if not args.no_migrate:
            migrate()
        logger.info(
            "starting %d worker(s) on %s:%d (metrics dir: %s)",
            args.workers,
            args.host,
            args.port,
            directory,
        )
        uvicorn.run(
            args.app,
            host=args.host,
            port=args.port,
            workers=args.workers,
            http=HTTP_PROTOCOL,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        )


if __name__ == "__main__":
    main()
