"""The app served by uvicorn through serve.py: graceful shutdown, the bounded HTTP parser,
uvicorn's access line replaced by ours, several workers summed in /metrics."""

import contextlib
import json
import signal
import socket
import threading
import time

import httpx
import pytest

from tests.reliability.served import serve, serve_command

pytestmark = pytest.mark.commits  # another process commits to the test database


def raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        # the server may close before it has read everything we send
        with contextlib.suppress(OSError):
            connection.sendall(head)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := connection.recv(65536):
                answer += chunk
    return answer


def test_sigterm_lets_the_request_in_flight_finish(tmp_path):
    with serve(
        tmp_path,
        command=serve_command("--app", "tests.reliability.slow_app:app"),
        env={"GRACEFUL_SHUTDOWN_SECONDS": "20"},
    ) as served:
        result = {}

        def slow_request():
            result["response"] = httpx.get(f"{served.url}/test/slow?seconds=2", timeout=30)

        in_flight = threading.Thread(target=slow_request)
        in_flight.start()
        time.sleep(0.7)  # the request has arrived and sleeps
        served.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # no new connections once draining
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{served.url}/health/ready", timeout=2)
        in_flight.join(30)
        # uvicorn drains, then re-raises the signal it caught: the exit is "by SIGTERM"
        assert served.process.wait(30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in served.log()

    response = result["response"]
    assert response.status_code == 200
    assert response.json() == {"draining": True}  # readiness was answering 503 meanwhile


def test_the_served_parser_bounds_the_request_head(tmp_path):
    with serve(tmp_path, env={"MAX_HEADER_BYTES": "8192", "MAX_HEADER_COUNT": "50"}) as served:
        many = b"".join(b"X-H%d: v\r\n" % n for n in range(60))
        big = b"X-Big: " + b"a" * 20_000 + b"\r\n"
        huge = b"X-Huge: " + b"a" * 2_000_000 + b"\r\n"
        for extra in (many, big, huge):
            answer = raw_request(
                served.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"
            )
            if not answer and extra is huge:
                continue  # closed while we were still sending: refused all the same
            status_line, _, rest = answer.partition(b"\r\n")
            assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large", answer[:200]
            assert json.loads(rest.partition(b"\r\n\r\n")[2]) == {
                "detail": "REQUEST_HEADERS_TOO_LARGE"
            }
        fine = raw_request(
            served.port,
            b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + b"".join(b"X-H%d: v\r\n" % n for n in range(40))
            + b"\r\n",
        )
        assert fine.startswith(b"HTTP/1.1 200 OK")


def test_one_log_line_per_request_and_no_uvicorn_access_line(tmp_path):
    with serve(tmp_path) as served:
        for n in range(3):
            response = httpx.get(f"{served.url}/health", headers={"X-Request-ID": f"served-{n}"})
            assert response.headers["x-request-id"] == f"served-{n}"
        metrics = httpx.get(f"{served.url}/metrics").text
        time.sleep(0.3)
        log = served.log()
    # one worker: metrics live in the process's multiprocess files all the same
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in metrics
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    for n in range(3):
        mine = [line for line in lines if line.get("request_id") == f"served-{n}"]
        assert [line["event"] for line in mine] == ["request"]
        assert mine[0]["route"] == "/health"
    assert '"GET /health HTTP/1.1" 200' not in log  # uvicorn's access format
    assert not [line for line in log.splitlines() if line and not line.startswith("{")]


def test_two_workers_are_summed_in_metrics(tmp_path):
    with serve(
        tmp_path,
        command=serve_command("--workers", "2"),
    ) as served:
        for _ in range(30):  # a connection each: the kernel spreads them over both workers
            assert (
                httpx.get(f"{served.url}/health", headers={"Connection": "close"}).status_code
                == 200
            )
        text = httpx.get(f"{served.url}/metrics").text
        log = served.log()
    total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('http_requests_total{method="GET",route="/health",status="200"}')
    )
    # the health polls of the start-up wait are counted too
    assert total >= 30
    pids = {
        json.loads(line).get("pid")
        for line in log.splitlines()
        if '"Started server process' in line
    }
    assert "Started server process" in log
    assert len([line for line in log.splitlines() if "Started server process" in line]) == 2
    del pids
