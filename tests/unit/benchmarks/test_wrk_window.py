"""wrk's rate counts only requests sent within the time it reports (benchmarks/wrk_load.py):
no request reaches the server before the run's timed window, however long the pool takes to
read. Needs Debian's wrk, as `make bench` does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks import wrk_load

pytestmark = pytest.mark.skipif(wrk_load.available() is None, reason="wrk is not installed")


class Stamps(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    arrivals: list[float] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Stamps.arrivals.append(time.monotonic())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Stamps.arrivals = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Stamps)
    httpd.daemon_threads = True
    httpd.handle_error = lambda *_: None  # type: ignore[method-assign] # wrk's resets at its end
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_no_request_is_sent_before_the_run_s_timed_window(server: str, tmp_path: Path) -> None:
    pool = tmp_path / "pool.tsv"
    # A pool slow to read (a million lines): with two threads, the first sent for as long as
    # wrk read the pool for the second, a third of the requests counted (measured).
    pool.write_text("1700000000\tv0=00\ttext=x\n" * 1_000_000)
    run = wrk_load.run(server, pool, connections=10, seconds=1)
    ended = time.monotonic()
    assert len(Stamps.arrivals) > 10
    assert run.requests >= len(Stamps.arrivals) - 10  # less those in flight at the end
    # wrk stops its connections within a tenth of a second of its timer; allow as much again
    early = [t for t in Stamps.arrivals if t < ended - run.seconds - 0.2]
    assert not early, (
        f"{len(early)} of {len(Stamps.arrivals)} sent before the timed {run.seconds:.2f} s"
    )
