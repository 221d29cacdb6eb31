"""Ack throughput driven by `wrk` (C, epoll): a client that costs little, so the rows measure the
server and not the load generator.

Slack signs `v0:{timestamp}:{body}` with HMAC-SHA256 and the bot refuses a timestamp older than
5 minutes; wrk's LuaJIT has no HMAC. So each run gets a pool of requests signed in Python just
before it starts (`tests/support/slack_requests`, exactly as Slack signs them), written one per
line, and `benchmarks/signed_pool.lua` sends them in order. Every body is distinct (its own
`trigger_id`, and for clicks its own `action_ts`): the durable ack path drops a delivery whose
body it has already taken in, which would measure a cheaper path than a real one. No
`X-Slack-Retry-Num` header is sent (the bot acks retries without doing anything).

The client's cost is reported: wrk's own CPU time (user + system, from `wait4`) / wall time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from tests.support.slack_requests import click_payload, command_form, sign

LUA = Path(__file__).resolve().parent / "signed_pool.lua"

#: One body, as Slack would post it, for the n-th request of a pool.
Body = Callable[[int], str]


def available() -> str | None:
    """The wrk binary, or None."""
    return shutil.which("wrk")


def command_bodies(users: list[str], text: Callable[[int], str], response_url: str) -> Body:
    return lambda n: urlencode(command_form(users[n % len(users)], text(n), response_url))


def click_bodies(approvers: list[str], action_id: str, value: str, response_url: str) -> Body:
    def body(n: int) -> str:
        payload = click_payload(approvers[n % len(approvers)], action_id, value, response_url)
        payload["actions"][0]["action_ts"] = f"{time.time():.6f}{n:07d}"
        return urlencode({"payload": json.dumps(payload)})

    return body


def write_pool(path: Path, bodies: Body, count: int, secret: str) -> None:
    """`count` requests signed now: `timestamp<TAB>signature<TAB>body` per line."""
    now = int(time.time())

    def lines() -> Iterator[str]:
        for n in range(count):
            body = bodies(n)
            headers = sign(body, secret, now)
            yield (f"{headers['X-Slack-Request-Timestamp']}\t{headers['X-Slack-Signature']}\t{body}\n")

    with path.open("w") as handle:
        handle.writelines(lines())


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    wrapped: int
    client_cpu_s: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def client_share(self) -> float:
        """wrk's CPU time over wall time: 1.0 is one core."""
        return self.client_cpu_s / self.seconds


def run(
    url: str,
    pool: Path,
    *,
    connections: int,
    seconds: float,
    timeout_s: float = 10.0,
) -> WrkResult:
    """One wrk run: `connections` keep-alive connections on one thread.

    One thread, because wrk counts every request its threads sent but times the run from
    after the last thread was started: it reads the script's pool for each thread before
    starting that thread, so the first thread's requests during the next one's reading were
    counted in a run that did not time them. On two cores busy with the server that reading
    took from a tenth of a second to over two, and rates came out up to twice the server's
    (benchmarks/README.md, issue #33, twenty-first step). One thread is not the limit: it
    spent about 40 µs of CPU per request against the ceiling, a quarter of a core."""
    binary = available()
    if binary is None:
        raise RuntimeError("wrk is not installed")
    threads = 1
    argv = [
        binary,
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        f"{timeout_s:g}s",
        "-s",
        str(LUA),
        f"{url}/slack/events",
    ]
    env = {**os.environ, "WRK_POOL": str(pool), "WRK_THREADS": str(threads)}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    line = next((x for x in output.splitlines() if x.startswith("WRK-JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{output[-2000:]}")
    data = json.loads(line.removeprefix("WRK-JSON "))
    errors = {k: data[k] for k in ("non2xx", "connect", "read", "write", "timeout") if data[k]}
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=errors,
        wrapped=data["wrapped"],
        client_cpu_s=usage.ru_utime + usage.ru_stime,
    )
