"""Command → answer at `response_url`, end to end, in a process of its own that costs little.

Run by `benchmarks/scenarios/answers.py` with one JSON job on stdin (`url`, `secret`, `users`,
`concurrency`, `total`, `warmup`, `text`); writes one JSON result on stdout. `concurrency` simulated
users, each a coroutine with one keep-alive connection to the bot, send a signed `/mysafe <text>`
and wait for its answer at a `response_url` of their own before sending the next; latency is from
the send to the answer's arrival.

Why not the benchmark process's threads and the Slack fake: there, 50 user threads woke up on every
answer, and shared one interpreter with the Flask app that received the answers and with the Slack
fake: the client used a large share of a core (benchmarks/README.md, "Reading the numbers"), on the
same cores as the bot, and measured itself as much as the bot. Here one event loop does both sides
on plain sockets (keep-alive HTTP/1.1 with Content-Length, all that either side sends), and its CPU
is reported, as the wrk rows report wrk's.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.support.slack_requests import command_form, sign


async def read_message(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    """One HTTP/1.1 message: (start line, headers in lower case, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    start, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return start, headers, body


class Hooks:
    """The `response_url` side: `POST /response/<hook>` resolves that hook's future."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.answers = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                start, _, _ = await read_message(reader)
                hook = start.split(" ")[1].rsplit("/", 1)[-1]
                self.answers += 1
                future = self.waiting.pop(hook, None)
                if future is not None and not future.done():
                    future.set_result(time.monotonic())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def user(
    job: dict[str, Any],
    hooks: Hooks,
    base: str,
    index: int,
    left: list[int],
    latencies: list[float],
    failures: list[str],
) -> None:
    target = urlsplit(job["url"])
    reader, writer = await asyncio.open_connection(target.hostname, target.port)
    who = job["users"][index % len(job["users"])]
    try:
        while left[0] > 0:
            left[0] -= 1
            hook = uuid.uuid4().hex
            form = urlencode(command_form(who, job["text"], f"{base}/response/{hook}"))
            headers = sign(form, job["secret"])
            body = form.encode()
            answered = hooks.waiting[hook] = asyncio.get_running_loop().create_future()
            sent = time.monotonic()
            writer.write(
                b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            start, _, ack = await read_message(reader)
            if " 200 " not in start or b"Working on" not in ack:
                failures.append(f"{start} {ack[:80]!r}")
                hooks.waiting.pop(hook, None)
                continue
            arrived = await asyncio.wait_for(answered, timeout=60)
            latencies.append((arrived - sent) * 1000)
    finally:
        writer.close()


async def level(job: dict[str, Any]) -> dict[str, Any]:
    hooks = Hooks()
    server = await asyncio.start_server(hooks.serve, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    result: dict[str, Any] = {}
    for count in (job["warmup"], job["total"]):  # the warm-up's numbers are overwritten
        latencies: list[float] = []
        failures: list[str] = []
        left = [count]
        cpu0, began = time.process_time(), time.monotonic()
        await asyncio.gather(
            *(user(job, hooks, base, n, left, latencies, failures) for n in range(job["concurrency"]))
        )
        wall = time.monotonic() - began
        result = {
            "latencies_ms": latencies,
            "wall_s": wall,
            "failures": failures[:5],
            "failed": len(failures),
            "client_share": (time.process_time() - cpu0) / wall,
        }
    server.close()
    return result


def main() -> None:
    job = json.loads(sys.stdin.read())
    json.dump(asyncio.run(level(job)), sys.stdout)


if __name__ == "__main__":
    main()
