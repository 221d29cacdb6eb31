"""The acks' round trip to Redis (app/foundations/storage.py, `OwnConnections` and `run_script`):
each web thread keeps a connection of its own and sends its script as one EVALSHA, and still
stores the command when Redis has dropped that connection or forgotten the script."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from redis import exceptions as redis_errors

from app.foundations.crypto import Keyring, generate_key
from app.foundations.ratelimit import KEPT, RateLimiter
from app.foundations.storage import OwnConnections, RedisClient, connect, run_script
from app.jobs.queue import JobQueue, Limit

pytestmark = pytest.mark.server_and_cluster


def in_thread(work: Callable[[], Any]) -> Any:
    """`work()` run in a thread of its own, which has ended on return."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return out[0]


def command(n: int) -> dict[str, str]:
    return {"user_id": "UALICE", "text": "whoami", "trigger_id": f"{n}.1.abc"}


@pytest.fixture
def queue(redis: RedisClient, key_prefix: str) -> JobQueue:
    return JobQueue(redis, Keyring([generate_key()]), prefix=key_prefix)


def take(queue: JobQueue, n: int) -> str | None:
    limit = Limit(f"{queue.tag}:count:UALICE", 100, 120)
    return queue.take("command", command(n), who="UALICE", limit=limit, read=f"{queue.tag}:x").id


def stored(queue: JobQueue) -> int:
    return int(queue.redis.xlen(queue.stream))


def test_each_thread_keeps_one_connection_and_no_other_thread_uses_it(
    redis: RedisClient, redis_url: str
) -> None:
    if redis_url.startswith("redis+cluster"):
        assert OwnConnections(redis)() is redis  # a cluster's connections are per node
        return
    own = OwnConnections(redis)
    together = threading.Barrier(3)
    seen: list[tuple[int, int]] = []

    def ids() -> None:
        first = int(own().client_id())
        together.wait(timeout=10)  # all three hold theirs at once
        seen.append((first, int(own().client_id())))

    threads = [threading.Thread(target=ids) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 3
    assert all(first == again for first, again in seen)
    assert len({first for first, _ in seen}) == 3


def test_a_thread_s_connection_goes_back_to_the_pool_when_the_thread_ends(
    redis_server_url: str,
) -> None:
    client = connect(redis_server_url)  # a pool of its own: nothing else takes its connections
    try:
        own = OwnConnections(client)
        held = in_thread(lambda: int(own().client_id()))
        gc.collect()
        assert int(client.client_id()) == held  # the pool's one idle connection
    finally:
        client.close()


def test_the_ack_stores_its_job_after_redis_dropped_the_thread_s_connection(
    queue: JobQueue, redis: RedisClient, redis_url: str
) -> None:
    def twice() -> tuple[str | None, str | None]:
        first = take(queue, 1)
        if not redis_url.startswith("redis+cluster"):
            redis.client_kill_filter(_id=int(queue._own().client_id()))
        return first, take(queue, 2)

    first, second = in_thread(twice)
    assert first and second
    assert stored(queue) == 2


def test_the_ack_stores_its_job_after_redis_forgot_the_scripts(
    queue: JobQueue, redis: RedisClient
) -> None:
    assert take(queue, 1)
    redis.script_flush()  # as after a restart without persistence, or a failover
    assert take(queue, 2)
    assert take(queue, 2) is None  # the same delivery again: the script ran as itself
    assert stored(queue) == 2


def limited(redis: RedisClient, key_prefix: str, per_minute: int) -> tuple[RateLimiter, str]:
    """A limiter counting `per_minute` commands a person, and the key its hits read along (in
    the count's cluster slot)."""
    return (
        RateLimiter(redis, prefix=f"{key_prefix}:{{rl}}", name="t", per_minute=per_minute),
        f"{key_prefix}:{{rl}}:read",
    )


def test_the_rate_limit_counts_after_redis_forgot_its_script(
    redis: RedisClient, key_prefix: str
) -> None:
    limiter, key = limited(redis, key_prefix, 2)
    redis.set(key, "pt-BR")
    assert limiter.hit_reading("UALICE", key) == (limiter.verdict(1, limiter.window("UALICE")), "pt-BR")
    redis.script_flush()
    verdicts = [limiter.hit_reading("UALICE", key)[0].allowed for _ in range(2)]
    assert verdicts == [True, False]


def test_a_limiter_count_expires_from_its_first_hit_whatever_follows(
    redis: RedisClient, key_prefix: str
) -> None:
    """The expiry is set once, with the window's first hit: later hits in the same window do
    not push it back."""
    limiter, key = limited(redis, key_prefix, 10)
    limiter.hit_reading("UALICE", key)
    window = limiter.window("UALICE").key
    assert 0 < redis.ttl(window) <= KEPT
    redis.expire(window, 5)  # as if the window were nearly over
    limiter.hit_reading("UALICE", key)
    assert 0 < redis.ttl(window) <= 5


@pytest.mark.parametrize("ack", ["command", "click"])
def test_an_ack_stores_its_job_through_its_thread_s_own_connection(
    redis_server_url: str, key_prefix: str, ack: str
) -> None:
    """A command's ack (`take`) and a durable click's (`put`) alike."""
    queue = JobQueue(connect(redis_server_url), Keyring([generate_key()]), prefix=key_prefix)

    def store() -> tuple[int, dict[int, str]]:
        own = int(queue._own().client_id())
        if ack == "command":
            assert take(queue, 1)
        else:
            assert queue.put("approve", command(1), who="UALICE")
        # Read while this thread still holds its connection, on another of the pool's.
        return own, {int(c["id"]): c["cmd"] for c in queue.redis.client_list()}

    try:
        own, last = in_thread(store)
        assert last[own] == "evalsha"
    finally:
        queue.redis.delete(*queue.redis.scan_iter(match=f"{key_prefix}:*"))
        queue.redis.close()


def test_a_forked_process_opens_its_own_connection_instead_of_its_parent_s(
    redis_server_url: str,
) -> None:
    """Two processes writing on one socket would each read the other's answers."""
    client = connect(redis_server_url)
    try:
        own = OwnConnections(client)
        parent = int(own().client_id())
        reading, writing = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe
            try:
                os.write(writing, str(int(own().client_id())).encode())
            finally:
                os._exit(0)
        os.close(writing)
        with os.fdopen(reading) as answer:
            forked = int(answer.read() or 0)
        os.waitpid(child, 0)
        assert forked and forked != parent
        assert int(own().client_id()) == parent  # the parent's is still its own
    finally:
        client.close()


def test_an_error_answer_reaches_the_ack_and_its_connection_serves_the_next(
    redis: RedisClient, key_prefix: str
) -> None:
    """What the server refuses is raised to the ack (which answers "unavailable"), and the
    thread's connection, read to the end of that answer, carries the next one."""
    limiter, key = limited(redis, key_prefix, 5)

    def refused_then_counted() -> tuple[str, bool]:
        redis.hset(key, "not", "a language")  # GET on a hash: WRONGTYPE
        try:
            limiter.hit_reading("UALICE", key)
        except redis_errors.ResponseError as error:
            refused = str(error)
        else:
            refused = ""
        redis.delete(key)
        return refused, limiter.hit_reading("UALICE", key)[0].allowed

    refused, allowed = in_thread(refused_then_counted)
    assert "WRONGTYPE" in refused
    assert allowed


def test_an_argument_redis_cannot_carry_is_refused_before_anything_is_written(
    redis: RedisClient, key_prefix: str
) -> None:
    """As redis-py refuses it (`DataError`), with nothing sent: the count is not taken, and
    the thread's connection carries the next ack's round trip and its own answer."""
    limiter, key = limited(redis, key_prefix, 5)
    count = f"{key_prefix}:{{rl}}:count"

    def refused_then_counted() -> tuple[bool, bool, str | None]:
        with pytest.raises(redis_errors.DataError):
            run_script(limiter._own(), limiter._count_reading, [count, key], [None, 1])
        redis.set(key, "pt-BR")
        verdict, read = limiter.hit_reading("UALICE", key)
        return bool(redis.exists(count)), verdict.allowed, read

    assert in_thread(refused_then_counted) == (False, True, "pt-BR")
