"""HTTP benchmark: our API against a raw baseline service, measured in the same run.

    .venv/bin/python -m bench.http [--rows 100000] [--duration 10] [--rounds 3] [--workers 1]
                                   [--memory] [--explain] [--out bench/RESULTS.md] [--keep]

Creates a fresh PostgreSQL database, migrates and seeds it, starts our API and
bench/raw_service.py under uvicorn (same worker count, each on its own port), logs in over
HTTP, then drives both with wrk (32 keep-alive connections), interleaving the servers per
scenario per round. Prints one markdown table of medians over the rounds. See bench/README.md.
"""

import sys

if __name__ == "__main__" and not __package__:
    # as a script, bench/ would come first on sys.path and this file would shadow stdlib http
    sys.exit("run it as a module, from the repository root: python -m bench.http")

import argparse
import asyncio
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import httpx

from bench import database, explain, servers, wrk
from bench.procstat import (
    BackendCpu,
    machine_busy_seconds,
    own_cpu_seconds,
    postmaster_of,
    tree_runnable,
)
from bench.report import Memory, Results, Run
from bench.scenarios import (
    API,
    LOGINS_PER_SECOND,
    WRITE_BODY,
    Kind,
    Scenario,
    body_file,
    memory_paths,
    scenarios,
)
from bench.seed import SeedInfo

MIB = 1024 * 1024
MEMORY_EARLY = 1_000
MEMORY_PHASE_CAP = 3600.0  # seconds: wrk's --duration when a phase ends on a request count
DRAIN_CAP = 300.0  # seconds to wait at most for a server to finish what wrk left in flight
IDLE_WINDOW, IDLE_SHARE = 0.25, 0.04  # idle: under 4 % of a core over a quarter second
FOREIGN_WARNING = 0.05  # share of the machine's CPU used by others that makes a run suspect


@dataclass
class Bench:
    """Everything a run needs: the load generator, the servers, the tokens, the seed."""

    args: argparse.Namespace
    wrk: str
    seed: SeedInfo
    servers: dict[str, servers.Server]
    work_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)
    postmaster: int = 0


# -- setup --


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="items seeded (100000)")
    parser.add_argument("--users", type=int, default=1000, help="users seeded (1000)")
    parser.add_argument("--duration", type=float, default=8, help="seconds per run (8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians reported (3)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds first (2)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers, each server")
    parser.add_argument("--only", help="run only scenarios whose name contains this")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="S",
        help="before each scenario wait up to S s for other processes to go quiet (0)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=0,
        metavar="N",
        help="measure a pair again (up to N times) when other processes disturbed it (0)",
    )
    parser.add_argument("--memory", action="store_true", help="also: RSS after 1k vs 100k")
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN our list queries")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    parser.add_argument("--json", type=Path, help="also write every run's numbers here")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="items_bench", help="created, then dropped")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse a --keep database")
    return parser.parse_args(argv)


def seed_path(database_name: str) -> Path:
    return Path(__file__).with_name(f".seed-{database_name}.json")


async def prepare_database(args: argparse.Namespace) -> SeedInfo:
    reuse_if = (args.users, args.rows) if args.reuse else None
    reused = await database.create(args.postgres, args.database, reuse_if=reuse_if)
    if reused is not None:
        print(f"reusing database {args.database} ({reused.items:,} items)", file=sys.stderr)
        return reused
    print(f"database {args.database}: migrate, seed {args.rows:,} items …", file=sys.stderr)
    out = seed_path(args.database)
    return await database.build(args.postgres, args.database, args.users, args.rows, out)


def start_servers(args: argparse.Namespace, work_dir: Path) -> dict[str, servers.Server]:
    url = database.sqlalchemy_url(args.postgres, args.database)
    started = {
        "ours": servers.ours(url, args.workers, work_dir),
        "raw": servers.raw(url, args.workers, work_dir),
    }
    for server in started.values():
        server.start()
    for server in started.values():
        server.wait_ready()
    return started


async def login(client: httpx.AsyncClient, username: str, password: str) -> str:
    response = await client.post(
        f"{API}/auth/jwt/login", data={"username": username, "password": password}
    )
    if response.status_code != 200:
        raise SystemExit(f"login as {username}: {response.status_code} {response.text[:300]}")
    return str(response.json()["access_token"])


async def find_postmaster(bench: Bench) -> int:
    connection = await asyncpg.connect(database.dsn(bench.args.postgres, bench.args.database))
    try:
        return postmaster_of(await connection.fetchval("SELECT pg_backend_pid()"))
    finally:
        await connection.close()


# -- the raw service must answer what ours does --


async def _get_json(url: str, path: str, token: str) -> Any:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        return response.json()


async def check_same_answers(bench: Bench) -> None:
    """Same rows, same JSON, for every route both serve: the baseline is void otherwise."""
    ours, raw = bench.servers["ours"].url, bench.servers["raw"].url
    for scenario in scenarios(bench.seed):
        if scenario.raw and scenario.method == "GET":
            mine = await _get_json(ours, scenario.paths[0], bench.tokens["reader"])
            theirs = await _get_json(raw, scenario.paths[0], bench.tokens["reader"])
            if mine != theirs:
                raise SystemExit(f"raw answers {scenario.name} differently:\n{mine}\n{theirs}")
    mine, theirs = [await _post_item(url, bench.tokens["writer"]) for url in (ours, raw)]
    fresh = {"id", "created_at", "updated_at"}  # a new row's: differ by nature
    if mine.keys() != theirs.keys() or any(mine[k] != theirs[k] for k in mine.keys() - fresh):
        raise SystemExit(f"raw answers POST /items differently:\n{mine}\n{theirs}")


async def _post_item(url: str, token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        headers = {"Authorization": f"Bearer {token}"}
        response = await client.post(f"{API}/items", json=WRITE_BODY, headers=headers)
        if response.status_code != 201:
            raise SystemExit(f"POST /items on {url}: {response.status_code} {response.text[:300]}")
        return dict(response.json())


# -- measuring --


@dataclass
class LoginLoad:
    """Logins at a steady rate (open loop: one starts every 1/rate s, however long the
    previous ones take), cycling through seeded accounts, until `stop()`; the logins under
    way then finish, so the CPU they cost falls in the run that started them."""

    url: str
    users: list[str]
    password: str
    rate: float = LOGINS_PER_SECOND
    ok: int = 0
    failed: int = 0
    seconds: list[float] = field(default_factory=list)  # each successful login's latency
    _stopping: bool = False

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        loop, pending = asyncio.get_running_loop(), set[asyncio.Task[None]]()
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            try:
                due, count = loop.time(), 0
                while not self._stopping:
                    user = self.users[count % len(self.users)]
                    task = asyncio.create_task(self._login(client, user))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    count, due = count + 1, due + 1 / self.rate
                    await asyncio.sleep(max(0.0, due - loop.time()))
                await asyncio.gather(*pending)
            finally:  # cancelled (Ctrl-C): abandon the logins under way
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _login(self, client: httpx.AsyncClient, username: str) -> None:
        started = time.perf_counter()
        try:
            response = await client.post(
                f"{API}/auth/jwt/login", data={"username": username, "password": self.password}
            )
        except httpx.HTTPError:
            self.failed += 1
            return
        if response.status_code == 200:
            self.ok += 1
            self.seconds.append(time.perf_counter() - started)
        else:
            self.failed += 1


class MachineLoad:
    """How much of the machine went to processes that are not part of the measurement (the
    test suite of another worktree, say): all busy CPU time minus both servers, our
    PostgreSQL backends, wrk and this runner. Shown per run, so a disturbed run is visible."""

    def __init__(self, bench: Bench) -> None:
        self.servers = list(bench.servers.values())
        self.started = time.monotonic()
        self.busy, self.ours = machine_busy_seconds(), self._ours()

    def _ours(self) -> float:
        return own_cpu_seconds() + sum(server.cpu_seconds() for server in self.servers)

    def foreign_share(self, postgres_seconds: float) -> float:
        elapsed = time.monotonic() - self.started
        busy = machine_busy_seconds() - self.busy
        foreign = busy - (self._ours() - self.ours) - postgres_seconds
        return max(0.0, foreign) / (elapsed * (os.cpu_count() or 1))


async def measure(
    bench: Bench,
    scenario: Scenario,
    server: servers.Server,
    round_: int,
    duration: float,
    limit: int = 0,
) -> Run:
    """One wrk run (`duration` s, or `limit` requests), with the server's and PostgreSQL's
    CPU around it, counted until the server has drained what wrk left in flight."""
    token = bench.tokens["writer" if scenario.as_writer else "reader"]
    backends = BackendCpu(bench.postmaster, bench.args.database)
    logins = LoginLoad(bench.servers["ours"].url, bench.seed.login_users, bench.seed.password)
    backends.sample(first=True)
    cpu_before, machine = server.cpu_seconds(), MachineLoad(bench)
    follower = asyncio.create_task(backends.follow())
    side = asyncio.create_task(logins.run()) if scenario.logins else None
    try:
        result = await wrk.run(
            bench.wrk,
            server.url,
            method=scenario.method,
            paths=list(scenario.paths),
            token=token,
            body_file=body_file(scenario, bench.work_dir),
            duration=duration,
            limit=limit,
        )
        if side is not None:
            logins.stop()
            await side
        await drain(server, backends)
    finally:
        tasks = [task for task in (follower, side) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    server_cpu = server.cpu_seconds() - cpu_before
    backends.sample()
    foreign = machine.foreign_share(backends.cpu_seconds())
    return Run(
        scenario=scenario.name,
        server=server.name,
        round=round_,
        requests=result.requests,
        # closed loop: when wrk stops, each connection has one request the server still
        # answers (to no one); its CPU is counted, so it is counted as served too
        served=result.requests + wrk.CONNECTIONS,
        seconds=result.seconds,
        errors=result.errors,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        server_cpu_s=server_cpu,
        pg_cpu_s=backends.cpu_seconds(),
        pg_opened=backends.opened,
        logins_ok=logins.ok,
        logins_failed=logins.failed,
        login_p50_ms=1000 * statistics.median(logins.seconds) if logins.seconds else None,
        foreign_share=foreign,
    )


async def drain(server: servers.Server, backends: BackendCpu) -> None:
    """Wait until the server and our PostgreSQL backends are idle: the requests wrk left in
    flight finish here, not in the next run (slow pages, seconds each at 1M rows, would
    spill into the following scenario). Idle, twice in a row: under 4 % of a core over a
    quarter second, no server thread running or waiting for a CPU (a starved process uses
    no CPU either), and none of our backends in a statement or a transaction."""
    deadline = time.monotonic() + DRAIN_CAP
    backends.sample()
    last, quiet = server.cpu_seconds() + backends.cpu_seconds(), 0
    while time.monotonic() < deadline:
        await asyncio.sleep(IDLE_WINDOW)
        backends.sample()
        now = server.cpu_seconds() + backends.cpu_seconds()
        idle = now - last < IDLE_SHARE * IDLE_WINDOW
        idle = idle and not backends.busy() and not tree_runnable(server.pid)
        quiet = quiet + 1 if idle else 0
        if quiet == 2:
            return
        last = now
    print(f"  ⚠ {server.name} still busy after {DRAIN_CAP:.0f} s", file=sys.stderr)


def _servers_for(bench: Bench, scenario: Scenario, round_: int) -> list[servers.Server]:
    """Ours and raw (when raw serves it), in an order that alternates round by round: neither
    always runs first, right after the other's load."""
    names = ["ours", "raw"] if scenario.raw else ["ours"]
    if round_ % 2:
        names.reverse()
    return [bench.servers[name] for name in names]


def _progress(run: Run) -> None:
    print(
        f"  round {run.round + 1} {run.scenario:<44} {run.server:<4} {run.rps:9.1f} req/s"
        f"  p99 {run.p99_ms:8.1f} ms  server {run.server_ms:6.2f} ms  PG {run.pg_ms:6.2f} ms"
        + f"  others {run.foreign_share:4.0%}"
        + (f"  ⚠ {run.errors} errors" if run.errors else ""),
        file=sys.stderr,
        flush=True,
    )


async def wait_quiet(bench: Bench) -> None:
    """With --wait-quiet S: wait (up to S seconds) until other processes use under 5 % of
    the machine, measured over one second. On a shared machine this trades time for noise."""
    deadline = time.monotonic() + bench.args.wait_quiet
    told = False
    while time.monotonic() < deadline:
        load = MachineLoad(bench)
        await asyncio.sleep(1.0)
        share = load.foreign_share(0.0)  # our backends are idle between runs
        if share < FOREIGN_WARNING:
            return
        if not told:
            print(f"  waiting for a quiet machine (others use {share:.0%}) …", file=sys.stderr)
            told = True


async def measure_pair(bench: Bench, scenario: Scenario, round_: int) -> list[Run]:
    """The scenario on each server, back to back. With --retries N a pair that other
    processes disturbed (over 5 % of the machine in either run) is measured again, up to N
    times, and the least disturbed attempt kept."""
    best: list[Run] = []
    for _attempt in range(1 + bench.args.retries):
        await wait_quiet(bench)  # before the pair: both servers meet the same machine
        pair = []
        for server in _servers_for(bench, scenario, round_):
            pair.append(await measure(bench, scenario, server, round_, bench.args.duration))
            _progress(pair[-1])
        if not best or _disturbance(pair) < _disturbance(best):
            best = pair
        if _disturbance(best) <= FOREIGN_WARNING:
            break
    return best


def _disturbance(pair: list[Run]) -> float:
    return max(run.foreign_share for run in pair)


async def measure_all(bench: Bench, chosen: list[Scenario]) -> list[Run]:
    args = bench.args
    print(f"warm-up ({args.warmup:g} s per scenario and server) …", file=sys.stderr)
    for scenario in chosen:
        if not scenario.logins:  # the same reads warm up alone
            for server in _servers_for(bench, scenario, 0):
                await measure(bench, scenario, server, -1, args.warmup)
    runs = []
    for round_ in range(args.rounds):
        for scenario in chosen:
            runs += await measure_pair(bench, scenario, round_)
    return runs


async def measure_memory(bench: Bench, server: servers.Server) -> Memory:
    """RSS after the first 1 000 requests, and after `--memory-requests` in all."""
    scenario = Scenario("memory", Kind.READ, memory_paths(bench.seed))
    start = server.rss_bytes() / MIB
    early_run = await measure(bench, scenario, server, 0, MEMORY_PHASE_CAP, limit=MEMORY_EARLY)
    early = server.rss_bytes() / MIB
    rest = bench.args.memory_requests - early_run.requests
    late_run = await measure(bench, scenario, server, 0, MEMORY_PHASE_CAP, limit=rest)
    late = server.rss_bytes() / MIB
    print(
        f"  memory {server.name}: RSS {start:.1f} MiB at start, {early:.1f} after"
        f" {early_run.requests:,} requests, {late:.1f} after {late_run.requests:,} more",
        file=sys.stderr,
        flush=True,
    )
    total = early_run.requests + late_run.requests
    return Memory(server.name, start, early, late, early_run.requests, total, late_run)


async def explain_lists(bench: Bench, chosen: list[Scenario]) -> str:
    """Our API's statements for each list scenario, explained (a DB_ECHO instance of it)."""
    url = database.sqlalchemy_url(bench.args.postgres, bench.args.database)
    echo = servers.ours(url, 1, bench.work_dir, echo=True)
    echo.start()
    connection = await asyncpg.connect(database.dsn(bench.args.postgres, bench.args.database))
    try:
        await asyncio.to_thread(echo.wait_ready)
        async with httpx.AsyncClient(base_url=echo.url, timeout=600) as client:
            seen: set[str] = set()  # the auth query and the tag loads are shown once
            sections = [
                await _explain_scenario(bench, client, connection, echo, scenario, seen)
                for scenario in chosen
                if scenario.kind is Kind.LIST
            ]
    finally:
        await connection.close()
        echo.stop()
    return "\n".join(sections)


async def _explain_scenario(
    bench: Bench,
    client: httpx.AsyncClient,
    connection: asyncpg.Connection,
    echo: servers.Server,
    scenario: Scenario,
    seen: set[str],
) -> str:
    path, token = scenario.paths[0], bench.tokens["reader"]
    issued = await explain.capture(client, echo.log_path, path, token)
    plans = []
    for statement in issued:
        if statement.sql not in seen:
            seen.add(statement.sql)
            plans.append((statement, await explain.plan_text(connection, statement)))
    return explain.markdown(scenario.name, path, plans, len(issued))


# -- the whole run --


def header(bench: Bench, seconds: float) -> str:
    args, seed = bench.args, bench.seed
    command = "python -m bench.http " + shlex.join(sys.argv[1:])
    return (
        f"`{command.strip()}` — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {seconds / 60:.1f} min\n\n"
        f"{seed.items:,} items, {seed.users:,} users (reader owns {seed.reader_items:,});"
        f" {args.workers} uvicorn worker(s) per server; wrk {wrk.THREADS} thread,"
        f" {wrk.CONNECTIONS} connections, {args.duration:g} s per run, {args.rounds} rounds"
        f" (servers interleaved), medians shown (± = half the req/s range over rounds);"
        f" {os.cpu_count()} CPUs, Python {platform.python_version()}.\n"
    )


NOTES = """
- **server CPU**: utime+stime of the server's process tree per request; **PG CPU**: the same
  over the PostgreSQL backends of the benchmark database. Latencies are wrk's, under 32
  concurrent connections (queueing included).
- **ours ÷ raw**: median over rounds of ours ÷ raw req/s in the same round; list scenarios are
  divided by raw's own-items list (`owner_only=true`, 20 per page + count).
- `+ 5 logins/s`: logins (argon2) sent to our API beside the reads; its CPU counts in
  server CPU per read request. Target column: p99 with logins ÷ p99 of the same reads alone.
"""


def foreign_note(runs: list[Run]) -> str:
    """How busy the machine was with other work while we measured (see MachineLoad)."""
    if not runs:
        return ""
    typical, worst = (
        statistics.median(run.foreign_share for run in runs),
        max(run.foreign_share for run in runs),
    )
    verdict = (
        ": **the machine was busy with other work; these numbers are disturbed**"
        if typical > FOREIGN_WARNING
        else ""
    )
    return (
        f"- Other processes used a median {typical:.0%} (max {worst:.0%}) of the machine's CPU"
        f" during the measured runs{verdict}.\n"
    )


def render(bench: Bench, results: Results, memory: list[Memory], plans: str, seconds: float) -> str:
    opened = results.opened_connections()
    churn = ", ".join(
        f"{name} {median:g} ({total:,} in all)" for name, (median, total) in opened.items()
    )
    parts = [
        "## HTTP benchmark\n",
        header(bench, seconds),
        results.table(memory),
        NOTES,
        "- PostgreSQL connections opened per measured run (median; a pool that closes"
        f" connections when the load drops opens them again in the next run): {churn}.\n",
        foreign_note(results.runs),
    ]
    if plans:
        parts += [
            f"\n## EXPLAIN (ANALYZE, BUFFERS) of our list queries ({bench.seed.items:,} items)\n",
            plans,
        ]
    return "\n".join(parts)


async def measure_everything(bench: Bench) -> tuple[Results, list[Memory], str]:
    async with httpx.AsyncClient(base_url=bench.servers["ours"].url, timeout=60) as client:
        bench.tokens = {
            "reader": await login(client, bench.seed.reader, bench.seed.password),
            "writer": await login(client, bench.seed.writer, bench.seed.password),
        }
    await check_same_answers(bench)
    bench.postmaster = await find_postmaster(bench)
    chosen = [s for s in scenarios(bench.seed) if not bench.args.only or bench.args.only in s.name]
    results = Results(chosen, await measure_all(bench, chosen))
    memory = []
    if bench.args.memory:
        memory = [await measure_memory(bench, bench.servers[name]) for name in ("ours", "raw")]
    plans = await explain_lists(bench, chosen) if bench.args.explain else ""
    return results, memory, plans


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    try:
        return run(parse_args(argv))
    except KeyboardInterrupt:
        print("interrupted: servers stopped, database dropped unless --keep", file=sys.stderr)
        return 130


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    started_servers: dict[str, servers.Server] = {}
    failed = True
    try:
        found_wrk = wrk.ensure_wrk()
        seed = asyncio.run(prepare_database(args))
        started_servers = start_servers(args, work_dir)
        bench = Bench(args, found_wrk, seed, started_servers, work_dir)
        results, memory, plans = asyncio.run(measure_everything(bench))
        failed = False
    finally:
        for server in started_servers.values():
            server.stop()
        if not args.keep:
            asyncio.run(database.drop(args.postgres, args.database))
        if failed:
            print(f"logs kept in {work_dir}", file=sys.stderr)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    report = render(bench, results, memory, plans, time.monotonic() - started)
    print(report)
    if args.out:
        args.out.write_text(report)
    if args.json:
        args.json.write_text(json.dumps([asdict(run) for run in results.runs], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
