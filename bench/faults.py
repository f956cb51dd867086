"""Fault run: mixed traffic at the API served by uvicorn on PostgreSQL while PostgreSQL fails.

    .venv/bin/python -m bench.faults                          # ~1 minute, restarts PostgreSQL
    .venv/bin/python -m bench.faults --no-restart --phase-seconds 5

Phases, each `--phase-seconds` long, with `--concurrency` clients sending reads, creates,
transfers and bulk creates (5 items) the whole time:
  baseline · backends killed (pg_terminate_backend every 0.3 s) · connections refused
  (ALTER DATABASE … ALLOW_CONNECTIONS false + its backends terminated; restored in any case)
  · PostgreSQL restarting (pg_ctlcluster … restart; started again in a `finally` in any case)
  · recovery.
It prints the answers per phase and status, then checks the database: every item's owner is
where its transfer log leads (each transfer wrote its log row), every bulk create is all or
nothing (5 items with its tag, or none), and every 2xx the clients saw was kept.
Exit status 1 on any 500 or any inconsistency. Uses a scratch database (created and dropped)
and ports 18350+ (this worktree's range).
"""

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
BULK_SIZE = 5
PHASES = ("baseline", "backends killed", "connections refused", "postgres restart", "recovery")


@dataclass
class Run:
    statuses: dict[str, Counter[int | str]] = field(default_factory=lambda: defaultdict(Counter))
    by_kind: Counter[tuple[str, int | str]] = field(default_factory=Counter)
    phase: str = PHASES[0]
    created: set[str] = field(default_factory=set)  # item ids answered 201
    bulks_ok: set[str] = field(default_factory=set)  # bulk tags answered 201
    bulks_sent: set[str] = field(default_factory=set)
    transfers_ok: Counter[str] = field(default_factory=Counter)  # item id → 200 transfers
    retry_after_missing: int = 0

    def record(self, kind: str, status: int | str) -> None:
        self.statuses[self.phase][status] += 1
        self.by_kind[(kind, status)] += 1


def pg_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def pg_ready(host: str, port: int) -> bool:
    probe = ["pg_isready", "-q", "-h", host, "-p", str(port)]
    return subprocess.run(probe, check=False).returncode == 0  # noqa: S603


def ensure_postgres_up(host: str, port: int) -> None:
    if pg_ready(host, port):
        return
    print("PostgreSQL is down: starting it", flush=True)
    start = ["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", "start"]
    subprocess.run(start, check=False)  # noqa: S603
    for _ in range(60):
        if pg_ready(host, port):
            return
        time.sleep(0.5)
    raise SystemExit("PostgreSQL did not come back")


@contextlib.asynccontextmanager
async def admin(args: argparse.Namespace) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(
        host=args.pg_host, port=args.pg_port, user="postgres", database="postgres"
    )
    try:
        yield connection
    finally:
        with contextlib.suppress(Exception):
            await connection.close()


@contextlib.contextmanager
def served(args: argparse.Namespace, database_url: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_TIMEOUT": "5",
        "DB_CONNECT_TIMEOUT": "3",
        "SECRET_KEY": "fault-run-secret-key-that-is-long-enough",
    }
    command = [
        sys.executable,
        "-m",
        "serve",
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
    ]
    log = (ROOT / "bench" / ".faults-server.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{args.port}/health", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start (see bench/.faults-server.log)")
            time.sleep(0.3)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


async def account(client: httpx.AsyncClient, name: str) -> tuple[str, dict[str, str]]:
    password = f"{name}-fault-run-password"
    response = await client.post(
        "/auth/register",
        json={"email": f"{name}@example.com", "username": name, "password": password},
    )
    assert response.status_code == 201, response.text
    login = await client.post("/auth/jwt/login", data={"username": name, "password": password})
    token = login.json()["access_token"]
    return response.json()["id"], {"Authorization": f"Bearer {token}"}


async def drive(
    client: httpx.AsyncClient,
    run: Run,
    users: list[tuple[str, dict[str, str]]],
    items: list[str],
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        kind = random.choices(
            ["read", "list", "create", "transfer", "bulk"], weights=[4, 2, 2, 2, 1]
        )[0]
        user_id, headers = random.choice(users)
        try:
            if kind == "read":
                response = await client.get(f"/items/{random.choice(items)}", headers=headers)
            elif kind == "list":
                response = await client.get("/items?limit=20", headers=headers)
            elif kind == "create":
                response = await client.post("/items", json={"title": "fault"}, headers=headers)
                if response.status_code == 201:
                    run.created.add(response.json()["id"])
            elif kind == "transfer":
                item = random.choice(items)
                target = next(uid for uid, _ in users if uid != user_id)
                response = await client.post(
                    f"/items/{item}/transfer", json={"new_owner_id": target}, headers=headers
                )
                if response.status_code == 200:
                    run.transfers_ok[item] += 1
            else:
                tag = f"b-{uuid.uuid4().hex[:12]}"
                run.bulks_sent.add(tag)
                body = [{"title": f"bulk {n}", "tags": [tag]} for n in range(BULK_SIZE)]
                response = await client.post("/items/bulk", json=body, headers=headers)
                if response.status_code == 201:
                    run.bulks_ok.add(tag)
            status: int | str = response.status_code
            if status == 503 and "retry-after" not in response.headers:
                run.retry_after_missing += 1
        except httpx.HTTPError as error:
            status = type(error).__name__  # the connection itself failed
            await asyncio.sleep(0.05)
        run.record(kind, status)


async def fault_run(args: argparse.Namespace) -> int:
    database = args.database
    database_url = f"postgresql+asyncpg://postgres@{args.pg_host}:{args.pg_port}/{database}"
    async with admin(args) as connection:
        await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{database}"')
    run = Run()
    try:
        with served(args, database_url):
            limits = httpx.Limits(max_connections=args.concurrency)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{args.port}/api/v1", timeout=30, limits=limits
            ) as client:
                users = [await account(client, "alice"), await account(client, "bob")]
                items = []
                for n in range(20):
                    _user_id, headers = users[n % 2]
                    created = await client.post(
                        "/items", json={"title": f"seed {n}", "is_public": True}, headers=headers
                    )
                    items.append(created.json()["id"])
                stop = asyncio.Event()
                clients = [
                    asyncio.create_task(drive(client, run, users, items, stop))
                    for _ in range(args.concurrency)
                ]
                try:
                    await phases(args, run)
                finally:
                    stop.set()
                    await asyncio.gather(*clients)
        return await report(args, run, database)
    finally:
        ensure_postgres_up(args.pg_host, args.pg_port)
        async with admin(args) as connection:
            await connection.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
            if not args.keep:
                await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def terminate(connection: asyncpg.Connection, database: str) -> None:
    await connection.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = $1 AND pid <> pg_backend_pid()",
        database,
    )


async def phases(args: argparse.Namespace, run: Run) -> None:
    seconds = args.phase_seconds
    database = args.database
    run.phase = "baseline"
    await asyncio.sleep(seconds)

    run.phase = "backends killed"
    async with admin(args) as connection:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await terminate(connection, database)
            await asyncio.sleep(0.3)

    run.phase = "connections refused"
    async with admin(args) as connection:
        try:
            await connection.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
            await terminate(connection, database)
            await asyncio.sleep(seconds)
        finally:
            await connection.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')

    if args.restart:
        run.phase = "postgres restart"
        restart = ["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", "restart"]
        try:
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(*restart)
            await process.wait()
            await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
        finally:
            ensure_postgres_up(args.pg_host, args.pg_port)

    run.phase = "recovery"
    await asyncio.sleep(seconds)


async def report(args: argparse.Namespace, run: Run, database: str) -> int:
    print(
        f"\nFault run: {args.concurrency} clients, {args.workers} workers, "
        f"{args.phase_seconds}s per phase\n"
    )
    statuses = sorted({s for c in run.statuses.values() for s in c}, key=str)
    print(f"{'phase':<22}" + "".join(f"{s!s:>12}" for s in statuses) + f"{'total':>8}")
    for phase in PHASES:
        counts = run.statuses.get(phase)
        if counts is None:
            continue
        row = "".join(f"{counts.get(s, 0):>12}" for s in statuses)
        print(f"{phase:<22}{row}{sum(counts.values()):>8}")
    print("\nby kind:", dict(sorted(run.by_kind.items(), key=str)))

    problems = []
    fives = sum(counts[500] for counts in run.statuses.values())
    if fives:
        problems.append(f"{fives} × 500")
    if run.retry_after_missing:
        problems.append(f"{run.retry_after_missing} × 503 without Retry-After")

    connection = await asyncpg.connect(
        host=args.pg_host, port=args.pg_port, user="postgres", database=database
    )
    try:
        # every item's owner is where its transfer log leads, and the log is a chain
        rows = await connection.fetch(
            "SELECT i.id, i.owner_id, t.from_user_id, t.to_user_id FROM items i"
            " JOIN transfer_logs t ON t.item_id = i.id ORDER BY i.id, t.transferred_at, t.id"
        )
        chains: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            chains[row["id"]].append(row)
        broken = 0
        for chain in chains.values():
            if chain[-1]["to_user_id"] != chain[-1]["owner_id"]:
                broken += 1
            broken += sum(
                1
                for prev, cur in itertools.pairwise(chain)
                if cur["from_user_id"] != prev["to_user_id"]
            )
        if broken:
            problems.append(f"{broken} owner/transfer-log mismatches")
        logged = Counter(str(row["id"]) for row in rows)
        short = sum(1 for item, n in run.transfers_ok.items() if logged[item] < n)
        if short:
            problems.append(f"{short} items with fewer log rows than 200 transfers seen")

        tags = await connection.fetch(
            "SELECT t.name, count(it.item_id) AS n FROM tags t"
            " LEFT JOIN item_tags it ON it.tag_id = t.id WHERE t.name LIKE 'b-%' GROUP BY t.name"
        )
        per_tag = {row["name"]: row["n"] for row in tags}
        partial = [tag for tag, n in per_tag.items() if n not in (0, BULK_SIZE)]
        lost = [tag for tag in run.bulks_ok if per_tag.get(tag, 0) != BULK_SIZE]
        kept_bulks = sum(1 for n in per_tag.values() if n == BULK_SIZE)
        if partial:
            problems.append(f"{len(partial)} half-written bulk creates")
        if lost:
            problems.append(f"{len(lost)} bulk creates answered 201 but not kept")
        existing = {str(r["id"]) for r in await connection.fetch("SELECT id FROM items")}
        missing = run.created - existing
        if missing:
            problems.append(f"{len(missing)} creates answered 201 but not kept")
    finally:
        await connection.close()

    print(
        f"\nconsistency: {len(chains)} items transferred ({len(rows)} log rows,"
        f" {sum(run.transfers_ok.values())} transfers answered 200); bulk creates:"
        f" {len(run.bulks_sent)} sent, {len(run.bulks_ok)} answered 201, {kept_bulks} kept"
        f" whole, {len(partial)} partial; creates answered 201: {len(run.created)},"
        f" missing {len(missing)}"
    )
    print("result:", "; ".join(problems) if problems else "OK (0 × 500, nothing half-written)")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="plat_faults", help="scratch database (dropped)")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--port", type=int, default=18350)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--phase-seconds", type=float, default=8.0)
    parser.add_argument("--no-restart", dest="restart", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    if args.database in {"postgres", "template0", "template1"}:
        raise SystemExit("refusing to use that database")
    sys.exit(asyncio.run(fault_run(args)))


if __name__ == "__main__":
    main()
