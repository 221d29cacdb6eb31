"""A consumer's stop (every process exit, every Ctrl-C) is prompt and loses no finished work:
it ends the blocking read at once rather than waiting it out, and lets a running job finish
and be marked done before it returns. On one Redis server and on a 3-node Redis Cluster."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from app.foundations.crypto import Keyring
from app.jobs.consumer import Consumer
from app.jobs.queue import JobQueue
from tests.support.waiting import eventually

pytestmark = pytest.mark.server_and_cluster


@pytest.fixture
def queue(redis, encryption_key: str, key_prefix: str) -> JobQueue:
    return JobQueue(redis, Keyring([encryption_key]), prefix=key_prefix)


def blocked_readers(queue: JobQueue) -> int:
    """Connections of the stream's server blocked in a command right now (CLIENT LIST)."""
    server = queue.redis
    if hasattr(server, "get_node_from_key"):
        server = server.get_node_from_key(queue.stream).redis_connection
    return sum(1 for client in server.client_list() if "b" in client["flags"])


def consumer(queue: JobQueue, handler: Callable[[dict[str, Any]], None]) -> Consumer:
    # visibility 30: an idle consumer blocks a whole second in each read.
    return Consumer(
        queue, {"command": handler}, threads=2, per_person=2, mysafe_concurrency=4, visibility=30
    ).start()


def test_a_stop_ends_the_idle_read_at_once_instead_of_waiting_it_out(queue: JobQueue) -> None:
    before = blocked_readers(queue)
    idle = consumer(queue, lambda body: None)
    try:
        eventually(lambda: blocked_readers(queue) > before, 10, "the consumer blocked in its read")
    finally:
        started = time.monotonic()
        idle.stop()
    assert time.monotonic() - started < 0.5, "the stop waited for the 1 s read to time out"
    assert blocked_readers(queue) == before


def test_a_stop_lets_the_running_job_finish_and_be_marked_done(queue: JobQueue) -> None:
    running, release = threading.Event(), threading.Event()

    def slow_job(body: dict[str, Any]) -> None:
        running.set()
        release.wait(10)

    busy = consumer(queue, slow_job)
    queue.put("command", {"user_id": "UALICE", "text": "whoami"}, who="UALICE")
    assert running.wait(10)
    threading.Timer(0.2, release.set).start()
    busy.stop(wait=10)
    assert queue.pending() == 0, "the job that finished during the stop is done, not left pending"
