"""Prometheus metrics: requests by method, route template and status, requests in progress,
and the database pool's connections in use; `GET /metrics` outside the API prefix.

With several worker processes every process writes its values to files in
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode; serve.py prepares and cleans
that directory) and `/metrics`, whichever worker answers it, sums them all. Without that
variable the values live in the process, as usual.
"""

import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# prometheus-client chooses where values live when it is imported; so do we (serve.py sets
# the variable before anything imports this module)
MULTIPROCESS = bool(os.environ.get(MULTIPROC_DIR_VARIABLE))
# a request that matched no route is counted under this instead of its raw path
UNMATCHED_ROUTE = "<unmatched>"
# any other method is counted as OTHER: label values stay a small, fixed set
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer, by method, route and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
IN_PROGRESS = Gauge(
    "http_requests_in_progress",
    "HTTP requests being answered now, by method",
    ["method"],
    multiprocess_mode="livesum",
)
POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of the pool now",
    multiprocess_mode="livesum",
)

router = APIRouter(tags=["operations"])


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


@router.get(
    "/metrics",
    operation_id="operations_metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics() -> Response:
    """Prometheus text exposition of this service's metrics (all worker processes)."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    labels = (method_label(method), route, str(status))
    REQUESTS.labels(*labels).inc()
    DURATION.labels(*labels).observe(seconds)


def watch_pool(engine: AsyncEngine) -> None:
    """Keep POOL_IN_USE equal to the engine's checked-out connections (set on every checkout
    and checkin, read from the pool itself, so it cannot drift)."""
    sync_engine = engine.sync_engine
    if getattr(sync_engine, "_items_api_pool_watched", False):
        return

    def update(*_args: Any) -> None:
        checkedout = getattr(sync_engine.pool, "checkedout", None)
        if checkedout is not None:
            POOL_IN_USE.set(checkedout())

    event.listen(sync_engine, "checkout", update)
    event.listen(sync_engine, "checkin", update)
    sync_engine._items_api_pool_watched = True  # type: ignore[attr-defined]  # our own marker


def forget_this_process() -> None:
    """At exit: the live gauges of this process stop counting (multiprocess mode)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # untyped
