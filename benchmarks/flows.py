"""Driving the bot as Slack would, for the scenarios: a share until its approval message is
posted, an approval's final update, the PUTs an entry received, and waiting for the work after
the acks to be done."""

from __future__ import annotations

import re
import time

from benchmarks import harness
from benchmarks.harness import APPROVAL_CHANNEL, Bench
from benchmarks.loadgen import ConnectionClient
from tests.support.slack_fake import SlackCall

PUT_PREFIX = "/api/mysafe/password/update/"


def approval_posts(bench: Bench) -> list[SlackCall]:
    return [
        c
        for c in bench.slack.method_calls("chat.postMessage")
        if c.args.get("channel") == APPROVAL_CHANNEL
    ]


def share_and_wait(
    bench: Bench, client: ConnectionClient, user: str, entry: int, peer: str
) -> tuple[str, float]:
    """Send one share command; return (request id, ms until its approval message was posted)."""
    seen = len(approval_posts(bench))
    responses = bench.slack.response_count
    t0 = time.monotonic()
    response = client.command(user, f"share password {entry} with user:{peer}")
    if response.status_code != 200:
        raise RuntimeError(f"share command answered {response.status_code}: {response.text}")
    post = bench.slack.wait_until(
        lambda: (posts := approval_posts(bench))[seen:] and posts[seen], timeout=30
    )
    # The requester is told last, after the message's place is stored: wait for that as well.
    bench.slack.wait_until(lambda: bench.slack.response_count > responses, timeout=30)
    return post.args["text"].split(":")[0], (post.at - t0) * 1000


def final_state(text: str) -> str:
    """The state an approval message's text fallback names: `R-…: verb entry — state. …`."""
    found = re.search(r" — ([a-z]+)(?:\.|$)", text)
    return found.group(1) if found else ""


def applied_update(bench: Bench, request_id: str) -> SlackCall | None:
    for call in bench.slack.method_calls("chat.update"):
        text = call.args.get("text", "")
        if text.startswith(f"{request_id}:") and final_state(text) in ("applied", "failed"):
            return call
    return None


def puts_to(bench: Bench, entry: int) -> int:
    return len(
        [c for c in bench.emulator.calls_to("PUT", PUT_PREFIX) if c.path == f"{PUT_PREFIX}{entry}"]
    )


def settle(bench: Bench, serve: int, *, quiet: float = 1.0, timeout: float = 180.0) -> float:
    """Wait until the work after the acks is done: no job left in the bot's queue, and for
    `quiet` seconds no `response_url` answer arriving and the bot's processes (gunicorn's and
    serve's job workers) using under 5 % of a core. The queue decides for work that answers
    through no `response_url` (a form's, an event's); the quiet, for what a job starts and
    does not wait for. Returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        answers, cpu = bench.slack.response_count, harness.bot_cpu(serve)
        time.sleep(quiet)
        idle = harness.bot_cpu(serve) - cpu < 0.05 * quiet
        if bench.slack.response_count == answers and idle and bench.job_backlog() == 0:
            break
    return time.monotonic() - began
