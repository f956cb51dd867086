"""Serve the app in another process, as production does, for tests that need a real server
(signals, worker processes, the HTTP parser). Ports come from the 18300–18399 range."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from conftest import ROOT

PORTS = range(18310, 18399)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18310–18398")


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self.stopped = True


def wait_until_up(served: Served, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{served.log()[-3000:]}")
        try:
            if httpx.get(f"{served.url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not come up:\n{served.log()[-3000:]}")


def serve_command(*extra: str) -> list[str]:
    """`python -m serve --no-migrate` on the port the server is given, and `extra`."""
    return [sys.executable, "-m", "serve", "--no-migrate", "--port", "{port}", *extra]


@contextlib.contextmanager
def serve(
    tmp_path: Path,
    *,
    command: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
    name: str = "server",
) -> Iterator[Served]:
    """`python -m serve --no-migrate` (or `command`, with {port}) on a free port, stopped after."""
    port = free_port()
    args = (
        [a.format(port=port) for a in command]
        if command
        else [
            sys.executable,
            "-m",
            "serve",
            "--no-migrate",
            "--port",
            str(port),
        ]
    )
    environment = {**os.environ, "LOG_FORMAT": "json", **(env or {})}
    log_path = tmp_path / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            args, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    served = Served(process=process, port=port, log_path=log_path)
    try:
        wait_until_up(served)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
