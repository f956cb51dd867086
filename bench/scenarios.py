"""What the HTTP benchmark requests, and what each result is compared with."""

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bench.seed import SeedInfo

API = "/api/v1"
PAGE = 20  # the list scenarios' page size, as the raw own-items list's
LOGINS_PER_SECOND = 5.0


class Kind(StrEnum):
    READ = "read"  # one row: target ≥ 0.3× raw's same route
    LIST = "list"  # a page: target ≥ 0.2× raw's own-items list, PG CPU ≤ 2 ms/request
    WRITE = "write"
    LOGINS = "logins"  # a read with logins beside it: target p99 ≤ 2× the read alone


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: Kind
    paths: tuple[str, ...]  # wrk requests them in turn
    method: str = "GET"
    raw: bool = False  # the raw service answers it too
    as_writer: bool = False  # the writer's token: its private items stay out of the reader's
    body: str | None = None  # JSON
    logins: bool = False  # LOGINS_PER_SECOND logins run beside it
    alone: str | None = None  # LOGINS: the scenario measured without the logins


OWN_LIST = f"GET /items?owner_only=true&limit={PAGE}"
# what POST /items sends: private (off the reader's lists), two seeded tags and one new
WRITE_BODY = {
    "title": "Written by the benchmark",
    "description": "A few words.",
    "is_public": False,
    "tags": ["tag-001", "tag-002", "bench"],
}


def scenarios(seed: SeedInfo) -> list[Scenario]:
    """Every scenario, in the order a round runs them."""
    item, thread = f"{API}/items/{seed.item_id}", f"{API}/items/{seed.item_id}/comments"
    reads = [
        Scenario("GET /items/{id}", Kind.READ, (item,), raw=True),
        Scenario("GET /users/me", Kind.READ, (f"{API}/users/me",), raw=True),
        Scenario(OWN_LIST, Kind.LIST, (f"{API}/items?owner_only=true&limit={PAGE}",), raw=True),
        Scenario(f"GET /items?limit={PAGE}", Kind.LIST, (f"{API}/items?limit={PAGE}",)),
        Scenario(
            f"GET /items?search={seed.search}&limit={PAGE}",
            Kind.LIST,
            (f"{API}/items?search={seed.search}&limit={PAGE}",),
        ),
        Scenario(
            f"GET /items?tag={seed.tag}&limit={PAGE}",
            Kind.LIST,
            (f"{API}/items?tag={seed.tag}&limit={PAGE}",),
        ),
        Scenario(f"GET /items/{{id}}/comments ({seed.thread_comments})", Kind.LIST, (thread,)),
        Scenario("GET /users/with-items", Kind.LIST, (f"{API}/users/with-items",)),
    ]
    write = Scenario(
        "POST /items",
        Kind.WRITE,
        (f"{API}/items",),
        method="POST",
        raw=True,
        as_writer=True,
        body=json.dumps(WRITE_BODY),
    )
    with_logins = [
        Scenario(
            f"{read.name} + {LOGINS_PER_SECOND:g} logins/s",
            Kind.LOGINS,
            read.paths,
            logins=True,
            alone=read.name,
        )
        for read in (reads[0], reads[1], reads[3])
    ]
    return [*reads, write, *with_logins]


def memory_paths(seed: SeedInfo) -> tuple[str, ...]:
    """The memory check cycles through the hot reads both servers answer (the fast ones:
    100 000 requests must fit in minutes)."""
    return (f"{API}/items/{seed.item_id}", f"{API}/users/me")


def body_file(scenario: Scenario, directory: Path) -> Path | None:
    if scenario.body is None:
        return None
    path = directory / f"body-{abs(hash(scenario.name))}.json"
    path.write_text(scenario.body)
    return path
