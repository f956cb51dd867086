"""The load generator: wrk (installed from Debian's packages when missing), driven by
bench/wrk.lua, which prints its summary and latency distribution as one JSON line."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("wrk.lua")
CONNECTIONS = 32
# One wrk thread is plenty for 32 keep-alive connections at these rates, and leaves the
# 2 cores to the servers and PostgreSQL.
THREADS = 1
# Slow list pages at 1M rows take seconds under 32 connections: wrk would drop them as
# timeouts (and out of the latency distribution) after its default 2 s.
TIMEOUT = "60s"


class WrkMissing(SystemExit):
    pass


def ensure_wrk() -> str:
    """The path of wrk, installing it with apt-get (as root) when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise WrkMissing("wrk is missing and cannot be installed here: `apt-get install wrk`")
    print("installing wrk (apt-get install -y wrk) …", file=sys.stderr, flush=True)
    done = _apt_install(apt)
    if done.returncode != 0:  # stale package lists: refresh once and retry
        subprocess.run([apt, "update"], check=False, capture_output=True)  # noqa: S603
        done = _apt_install(apt)
    found = shutil.which("wrk")
    if found:
        return found
    raise WrkMissing(
        "could not install wrk with apt-get; install it (or put it on PATH) and rerun.\n"
        + done.stderr[-2000:]
    )


def _apt_install(apt: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [apt, "install", "-y", "wrk"], check=False, capture_output=True, text=True, env=env
    )


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int  # connect/read/write errors, timeouts and non-2xx/3xx answers
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def parse(output: str) -> WrkResult:
    line = next((line for line in output.splitlines() if line.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")
    data = json.loads(line.removeprefix("WRK_RESULT "))
    errors = sum(
        data[key]
        for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    answered = data["requests"] > 0  # else wrk's percentiles are zeros, not latencies
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=errors,
        p50_ms=data["p50_us"] / 1000 if answered else float("nan"),
        p99_ms=data["p99_us"] / 1000 if answered else float("nan"),
    )


async def run(
    wrk: str,
    base_url: str,
    *,
    method: str,
    paths: list[str],
    token: str | None,
    body_file: Path | None,
    duration: float,
    limit: int = 0,
) -> WrkResult:
    """One wrk run: `duration` seconds, or until `limit` responses (then `duration` is a cap)."""
    command = [
        wrk,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={TIMEOUT}",
        "-s",
        str(SCRIPT),
        base_url,
        "--",
        method,
        token or "-",
        str(body_file) if body_file else "-",
        str(limit),
        *paths,
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output = await _read(process)
    finally:
        if process.returncode is None:  # cancelled (Ctrl-C): wrk must not outlive us
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output[-2000:]}")
    return parse(output)


async def _read(process: asyncio.subprocess.Process) -> str:
    """wrk's output; SIGINT once the script says its request limit was reached (wrk would
    otherwise sleep out its --duration), which makes wrk report and exit."""
    assert process.stdout is not None
    lines = []
    async for line in process.stdout:
        lines.append(line.decode(errors="replace"))
        if line.startswith(b"WRK_LIMIT_REACHED"):
            process.send_signal(signal.SIGINT)
    await process.wait()
    return "".join(lines)
