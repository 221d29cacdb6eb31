"""Closed-loop load generator, run as its own process by the scenarios.

It reads one JSON job on stdin and writes one JSON result on stdout. Running it in a separate
process keeps its timers off the interpreter lock of the benchmark process, which also serves the
Slack fake and the MySafe emulator that the bot calls back during the run.

Jobs:
  {"mode": "closed", ...}  `concurrency` simulated users, each a thread with its own keep-alive
                           `requests.Session`, send `total` requests back to back (after
                           `warmup` requests that are not measured); latency is the time until
                           the HTTP response to POST /slack/events has been read.
  {"mode": "burst", ...}   `concurrency` threads, each with its own connection (opened with a
                           GET first), wait on one barrier, then send one request each.

Payloads are the ones `tests/support/slack_requests.py` builds (`SlackClient.command` / `.click`),
signed the same way; only the transport is swapped for a per-thread keep-alive connection:
`http.client` by default, or a `requests.Session` with `"client": "requests"`.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.support.slack_requests import SlackClient, sign


class SessionClient(SlackClient):
    """`SlackClient` over one keep-alive `requests.Session` (the original opens a connection
    per call)."""

    def __init__(self, bot_url: str, secret: str, response_url: str) -> None:
        super().__init__(bot_url, secret, response_url)
        self.session = requests.Session()

    def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> requests.Response:
        all_headers = {
            "Content-Type": content_type,
            **sign(body, secret or self.secret, timestamp),
            **(headers or {}),
        }
        return self.session.post(self.url, data=body.encode(), headers=all_headers, timeout=30)

    def get(self, path: str) -> int:
        return self.session.get(self.url.removesuffix("/slack/events") + path, timeout=30).status_code

    def close(self) -> None:
        self.session.close()


@dataclass
class Answer:
    status_code: int
    text: str


class ConnectionClient(SlackClient):
    """`SlackClient` over one persistent `http.client` connection: the same keep-alive per
    simulated user as a `requests.Session`, at a fraction of the client CPU per request
    (`requests` costs more CPU per request than the ceiling server does: benchmarks/README.md,
    "Reading the numbers")."""

    def __init__(self, bot_url: str, secret: str, response_url: str) -> None:
        super().__init__(bot_url, secret, response_url)
        parts = urlsplit(self.url)
        self.path = parts.path
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def _request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        for attempt in (1, 2):  # a keep-alive connection the server closed: reconnect once
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return Answer(response.status, response.read().decode(errors="replace"))
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Answer:
        all_headers = {
            "Content-Type": content_type,
            **sign(body, secret or self.secret, timestamp),
            **(headers or {}),
        }
        return self._request("POST", self.path, body.encode(), all_headers)

    def get(self, path: str) -> int:
        return self._request("GET", path, None, {}).status_code

    def close(self) -> None:
        self.conn.close()


def make_client(job: dict[str, Any]) -> SlackClient:
    kind = ConnectionClient if job.get("client", "http.client") == "http.client" else SessionClient
    return kind(job["url"], job["secret"], job["response_url"])


ERRORS = (requests.RequestException, http.client.HTTPException, OSError)


def _send(client: SlackClient, job: dict[str, Any], n: int) -> requests.Response:
    users = job["users"]
    user = users[n % len(users)]
    if job["kind"] == "click":
        return client.click(user, job.get("action", "approve"), job["value"])
    return client.command(user, job["text"])


def closed_loop(job: dict[str, Any]) -> dict[str, Any]:
    concurrency, total = job["concurrency"], job["total"]
    # Warm-up: at least one request per thread (it opens the keep-alive connection), unless 0.
    warmup = job.get("warmup", 0) and max(job["warmup"], concurrency)
    lock = threading.Lock()
    counters = {"warm": 0, "measured": 0}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    start_gate = threading.Barrier(concurrency + 1)
    measure_gate = threading.Barrier(concurrency + 1)

    def take(name: str, limit: int) -> int | None:
        with lock:
            if counters[name] >= limit:
                return None
            counters[name] += 1
            return counters[name]

    def worker(index: int) -> None:
        client = make_client(job)
        # Each simulated user is one Slack user when `users` has one per thread.
        mine = (
            dict(job, users=[job["users"][index % len(job["users"])]])
            if job.get("user_per_thread")
            else job
        )
        try:
            start_gate.wait()
            if warmup:
                _send(client, mine, index)  # this thread's connection is open before measuring
                while take("warm", warmup - concurrency) is not None:
                    _send(client, mine, index)
            measure_gate.wait()
            while (n := take("measured", total)) is not None:
                t0 = time.perf_counter()
                try:
                    response = _send(client, mine, n)
                    key = str(response.status_code)
                except ERRORS as error:
                    key = type(error).__name__
                    with lock:
                        errors.append(str(error)[:200])
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(elapsed)
                    statuses[key] = statuses.get(key, 0) + 1
        except threading.BrokenBarrierError:
            pass
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    measure_gate.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    return {
        "latencies_ms": latencies,
        "wall_s": wall,
        "statuses": statuses,
        "client_cpu_s": time.process_time() - cpu,
        "errors": errors[:5],
        "warmup": counters["warm"] + (concurrency if warmup else 0),
    }


def burst(job: dict[str, Any]) -> dict[str, Any]:
    concurrency = job["concurrency"]
    gate = threading.Barrier(concurrency + 1)
    results: list[tuple[float, str]] = [(0.0, "")] * concurrency
    sent_at: list[float] = [0.0] * concurrency

    def worker(index: int) -> None:
        client = make_client(job)
        try:
            client.get("/healthz")  # the connection is open before the barrier
            gate.wait()
            sent_at[index] = time.perf_counter()
            try:
                status = str(_send(client, dict(job, users=[job["users"][index]]), 0).status_code)
            except ERRORS as error:
                status = type(error).__name__
            results[index] = ((time.perf_counter() - sent_at[index]) * 1000, status)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    statuses: dict[str, int] = {}
    for _, status in results:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "latencies_ms": [r[0] for r in results],
        "wall_s": time.perf_counter() - began,
        "statuses": statuses,
        "errors": [],
    }


def main() -> None:
    job = json.loads(sys.stdin.read())
    result = burst(job) if job["mode"] == "burst" else closed_loop(job)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
