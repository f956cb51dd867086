"""The two servers under test, each a uvicorn process (tree) of its own on its own port.

Both run under the same uvicorn, with the same worker count, the same event loop and HTTP
parser (uvicorn[standard]: uvloop, httptools) and no access log: uvicorn's access line is not
the application's work, and would otherwise be the largest cost of the raw service.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from bench.database import ROOT
from bench.procstat import tree_cpu_seconds, tree_rss_bytes

SECRET_KEY = "bench-secret-key-that-is-long-enough-for-hs256"  # noqa: S105 - the bench's own
READY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    name: str  # "ours" or "raw"
    app: str  # uvicorn's APP argument
    workers: int
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        command = [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(self.workers)]
        command += ["--no-access-log", "--log-level", "warning"]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
            command,
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole, workers included
        )

    def wait_ready(self, path: str = "/health") -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SystemExit(f"{self.name} server exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit(
            f"{self.name} server not ready in {READY_TIMEOUT:.0f}s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM to the whole process group, SIGKILL after 10 s; idempotent."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return tree_rss_bytes(self.pid)

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        except FileNotFoundError:
            return ""


def ours(database_url: str, workers: int, log_dir: Path, *, echo: bool = False) -> Server:
    env = {
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "development",
        "SECRET_KEY": SECRET_KEY,
        # a token must outlive the longest run (the 1M-row one with --memory)
        "ACCESS_TOKEN_EXPIRE_MINUTES": "1440",
        "DB_ECHO": "true" if echo else "false",
    }
    if echo:
        env["PYTHONUNBUFFERED"] = "1"  # the echo log is read right after each request
    name = "ours-echo" if echo else "ours"
    return Server(name, "main:app", workers, env, log_dir / f"{name}.log")


def raw(database_url: str, workers: int, log_dir: Path) -> Server:
    env = {"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY}
    return Server("raw", "bench.raw_service:app", workers, env, log_dir / "raw.log")
