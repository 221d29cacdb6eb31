"""The job queue (app/jobs/queue.py) and its consumer (app/jobs/consumer.py), on a real Redis."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from app.foundations.crypto import Keyring, generate_key
from app.jobs import consumer as consumer_module
from app.jobs.consumer import Consumer, last_word, may_send, message_sent
from app.jobs.queue import JobQueue, Limit, OverLimit, Renewed
from app.services import Services
from tests.support.redis_wire import Wire
from tests.support.waiting import eventually


@pytest.fixture
def queue(services: Services, key_prefix: str) -> JobQueue:
    return JobQueue(services.redis, services.keyring, prefix=key_prefix)


def body(n: int, user: str = "UALICE") -> dict[str, str]:
    return {
        "user_id": user,
        "text": "show password 1",
        "trigger_id": f"{n}.1.abc",
        "client_secret": "typed-Secret-9",
    }


def test_the_same_delivery_is_taken_in_once_and_stored_encrypted(queue: JobQueue, redis) -> None:
    assert queue.put("command", body(1), who="UALICE") is not None
    assert queue.put("command", body(1), who="UALICE") is None  # Slack's resend, a double click
    assert queue.pending() == 1
    stored = str(redis.xrange(queue.stream))
    assert "typed-Secret-9" not in stored and "show password" not in stored


def test_a_counted_put_stores_within_the_limit_and_nothing_past_it(queue: JobQueue, redis) -> None:
    """The ack's one round trip: the person's count and the job together; past the bound the
    command is counted and nothing is stored, and a resend within it is counted, not stored."""
    limit = Limit(f"{queue.tag}:rate:command:UALICE:1", bound=2, ttl=120)
    assert queue.put("command", body(1), who="UALICE", limit=limit) is not None
    assert queue.put("command", body(1), who="UALICE", limit=limit) is None  # a resend
    with pytest.raises(OverLimit) as over:
        queue.put("command", body(2), who="UALICE", limit=limit)
    assert over.value.count == 3
    assert queue.pending() == 1
    assert redis.get(limit.key) == "3" and 0 < redis.ttl(limit.key) <= 120


def test_a_count_expires_from_its_first_hit_whatever_follows(queue: JobQueue, redis) -> None:
    """The expiry is set once, with the window's first command: a later command in the same
    window does not push it back (one command fewer for Redis on every ack)."""
    limit = Limit(f"{queue.tag}:rate:command:UALICE:1", bound=10, ttl=120)
    queue.take("command", body(1), who="UALICE", limit=limit)
    redis.expire(limit.key, 5)  # as if the window were nearly over
    queue.take("command", body(2), who="UALICE", limit=limit)
    assert redis.get(limit.key) == "2" and 0 < redis.ttl(limit.key) <= 5


def test_a_take_reads_its_key_in_the_same_step_and_a_bound_of_0_counts_nothing(
    queue: JobQueue, redis
) -> None:
    """The ack's one round trip also reads the person's language (any key under the tag)."""
    read = f"{queue.tag}:locale:UALICE"
    unlimited = Limit(f"{queue.tag}:rate:command:UALICE:1", bound=0, ttl=120)
    taken = queue.take("command", body(1), who="UALICE", limit=unlimited, read=read)
    assert (taken.read, taken.over, taken.count) == (None, False, 0) and taken.id
    redis.set(read, "pt-BR")
    again = queue.take("command", body(1), who="UALICE", limit=unlimited, read=read)
    assert (again.read, again.id) == ("pt-BR", None)  # a resend: nothing stored, still read
    bounded = Limit(unlimited.key, bound=1, ttl=120)
    queue.take("command", body(2), who="UALICE", limit=bounded, read=read)
    over = queue.take("command", body(3), who="UALICE", limit=bounded, read=read)
    assert (over.over, over.read, over.id, queue.pending()) == (True, "pt-BR", None, 2)
    assert redis.get(unlimited.key) == "2"
    with pytest.raises(ValueError):
        queue.take("command", body(4), who="UALICE", limit=bounded, read="elsewhere:UALICE")


def test_a_job_fernet_sealed_by_the_previous_release_still_runs(queue: JobQueue, redis) -> None:
    """Jobs in the stream across an upgrade: sealed with Fernet before, opened now."""
    redis.xadd(
        queue.stream,
        {
            "kind": "command",
            "who": "UALICE",
            "body": queue.keyring.encrypt('{"user_id":"UALICE","text":"whoami"}').decode(),
            "at": "1",
        },
    )
    (job,) = queue.read("c", count=10, block_ms=100)
    assert job.body == {"user_id": "UALICE", "text": "whoami"} and queue.parked_count() == 0


def test_a_limit_outside_the_jobs_hash_tag_is_refused(queue: JobQueue) -> None:
    """On a Redis Cluster a script may touch one slot only: the count must share the tag."""
    with pytest.raises(ValueError):
        queue.put("command", body(1), who="UALICE", limit=Limit("elsewhere:UALICE", 2, 120))
    assert queue.pending() == 0


def test_a_silent_consumers_job_is_taken_over_and_a_live_ones_is_not(queue: JobQueue) -> None:
    queue.put("command", body(1), who="UALICE")
    (job,) = queue.read("dead", count=10, block_ms=100)
    assert queue.claim_abandoned("other", idle_ms=200) == []  # not silent long enough
    time.sleep(0.3)  # idle time is Redis's own clock: nothing to await but the time itself
    queue.renew("dead", [job.id])  # ... but it said it is still working
    assert queue.claim_abandoned("other", idle_ms=200) == []
    time.sleep(0.3)
    (taken,) = queue.claim_abandoned("other", idle_ms=200)
    assert taken.id == job.id and taken.again and taken.body == body(1)
    queue.done(taken.id)
    assert queue.pending() == 0


def test_one_persons_jobs_never_take_more_than_their_share(queue: JobQueue) -> None:
    """Ten jobs of one person that never finish, then one of another: the other runs at once,
    and the first person never has more than `per_person` running."""
    release = threading.Event()
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    lock = threading.Lock()
    others_done = threading.Event()

    def handler(job_body: dict[str, str]) -> None:
        who = job_body["user_id"]
        with lock:
            running[who] = running.get(who, 0) + 1
            most[who] = max(most.get(who, 0), running[who])
        if who == "UBOB":
            others_done.set()
        else:
            release.wait(10)
        with lock:
            running[who] -= 1

    for n in range(10):
        queue.put("command", body(n), who="UALICE")
    queue.put("command", body(99, "UBOB"), who="UBOB")
    consumer = Consumer(
        queue, {"command": handler}, threads=4, per_person=2, mysafe_concurrency=8, visibility=5
    ).start()
    try:
        assert others_done.wait(5)
        assert most == {"UALICE": 2, "UBOB": 1}
    finally:
        release.set()
        deadline = time.monotonic() + 10
        while queue.pending() and time.monotonic() < deadline:
            time.sleep(0.05)  # the consumer finishes alice's ten, two at a time
        consumer.stop()
    assert queue.pending() == 0
    assert most["UALICE"] == 2


def test_a_consumer_that_was_silent_too_long_does_not_take_its_job_back(queue: JobQueue, redis) -> None:
    """A frozen consumer wakes after another took its job over: its renewal keeps only what is
    still its own, so the two do not both run the job from then on, and says which job the
    other holds, apart from one that is simply done."""
    queue.put("command", body(1), who="UALICE")
    queue.put("command", body(2), who="UALICE")
    queue.put("command", body(3), who="UALICE")
    first, second, third = queue.read("frozen", count=10, block_ms=100)
    time.sleep(0.3)  # idle time is Redis's own clock
    (taken,) = queue.claim_abandoned("other", idle_ms=200, count=1)
    assert taken.id == first.id
    queue.done(third.id)
    renewed = queue.renew("frozen", [first.id, second.id, third.id])
    assert renewed.kept == [second.id]
    assert renewed.elsewhere == [first.id]
    owners = {
        entry["message_id"]: entry["consumer"]
        for entry in redis.xpending_range(queue.stream, "workers", "-", "+", 10)
    }
    assert owners == {first.id: "other", second.id: "frozen"}


def test_a_jobs_message_is_sent_once_whichever_run_gets_there_first(queue: JobQueue) -> None:
    """Two runs of one job (a take-over and the run it replaced) race to send the same
    answers, many times over: each message is claimed by exactly one run, and none after the
    job is done."""
    for n in range(20):
        queue.put("command", body(100 + n), who="UALICE")
        (job,) = queue.read("a", count=1, block_ms=100)
        wins: list[tuple[int, bool]] = []
        barrier = threading.Barrier(2)

        def run(wins: list[tuple[int, bool]] = wins, job_id: str = job.id) -> None:
            barrier.wait()
            for nth in (1, 2):
                wins.append((nth, queue.may_send(job_id, nth, "a")))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(nth for nth, won in wins if won) == [1, 2]
        queue.done(job.id)
        assert not queue.may_send(job.id, 3, "a")


def test_an_answer_in_flight_when_its_run_died_is_sent_again_a_confirmed_one_is_not(
    queue: JobQueue,
) -> None:
    """A run that died after claiming a message but before Slack confirmed it may or may not
    have answered: the run taking over sends it again rather than leave the person with
    "Working on" for ever. One Slack confirmed is never sent again. The run that lost the job
    sends nothing more."""
    queue.put("command", body(200), who="UALICE")
    (job,) = queue.read("dead", count=1, block_ms=100)
    assert queue.may_send(job.id, 1, "dead")
    queue.sent(job.id, 1)
    assert queue.may_send(job.id, 2, "dead")  # claimed, then the process died: no `sent`
    time.sleep(0.3)  # idle time is Redis's own clock
    (taken,) = queue.claim_abandoned("alive", idle_ms=200, count=1)
    assert taken.id == job.id
    assert not queue.may_send(job.id, 1, "alive")  # Slack had it
    assert queue.may_send(job.id, 2, "alive")  # may never have left: sent again
    assert not queue.may_send(job.id, 3, "dead")  # not its job any more


def test_a_job_no_key_opens_is_parked_and_the_jobs_after_it_still_run(
    queue: JobQueue, redis, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A body sealed with a key no longer configured, and one that is not JSON: each is logged
    once, without a traceback, and parked aside; every other job runs, before and after."""
    stale = JobQueue(redis, Keyring([generate_key()]), prefix=key_prefix)
    stale.put("command", body(1), who="UALICE")  # put by a process with a key since removed
    redis.xadd(
        queue.stream,
        {
            "kind": "command",
            "who": "UBOB",
            "body": queue.keyring.encrypt("[not json").decode(),
            "at": "1",
        },
    )
    queue.put("command", body(2, "UCAROL"), who="UCAROL")
    ran: list[str] = []
    both = threading.Event()

    def handler(job_body: dict[str, str]) -> None:
        ran.append(job_body["user_id"])
        if len(ran) == 2:
            both.set()

    caplog.set_level(logging.INFO, logger="app.jobs")
    consumer = Consumer(
        queue, {"command": handler}, threads=2, per_person=2, mysafe_concurrency=4, visibility=5
    ).start()
    try:
        queue.put("command", body(3, "UDAVE"), who="UDAVE")
        assert both.wait(10), "the jobs around the unreadable ones did not run"
    finally:
        consumer.stop()
    assert sorted(ran) == ["UCAROL", "UDAVE"]
    parked = queue.parked()
    assert sorted((p.kind, p.who, p.why) for p in parked) == [
        ("command", "UALICE", "no configured key opens it"),
        ("command", "UBOB", "not a job body"),
    ]
    lines = [r for r in caplog.records if getattr(r, "event", "") == "jobs.parked"]
    assert len(lines) == 2 and all(r.exc_info is None for r in lines)
    assert "typed-Secret-9" not in str(redis.xrange(queue.dead))  # still sealed


def test_the_consumer_loop_outlives_an_unexpected_error_and_still_runs_jobs(
    queue: JobQueue, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only a Redis outage: any error in the reader's loop is logged and the loop goes
    on, since every job reaching this consumer depends on it (issue 25: one such error
    killed the reader of every consumer while the acks still said "Working on")."""
    real = queue.claim_abandoned
    failed: list[str] = []

    def fails_once(*args: object, **kwargs: object) -> object:
        if not failed:
            failed.append("once")
            raise ValueError("a bug, not an outage")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(queue, "claim_abandoned", fails_once)
    ran = threading.Event()
    caplog.set_level(logging.INFO, logger="app.jobs")
    consumer = Consumer(
        queue,
        {"command": lambda _: ran.set()},
        threads=1,
        per_person=1,
        mysafe_concurrency=1,
        visibility=5,
    ).start()
    try:
        queue.put("command", body(1), who="UALICE")
        assert ran.wait(10), "no job ran after the error"
        assert consumer.alive()
    finally:
        consumer.stop()
    assert failed == ["once"]
    assert [r.levelno for r in caplog.records if getattr(r, "event", "") == "jobs.loop_error"] == [
        logging.ERROR
    ]


def test_the_consumer_says_whether_its_loop_is_going(queue: JobQueue) -> None:
    """What the worker's heartbeat reports: the consumer's own loop, not the process."""
    consumer = Consumer(queue, {}, threads=1, per_person=1, mysafe_concurrency=1, visibility=5).start()
    assert consumer.alive()
    consumer.stop()
    assert not consumer.alive()


def test_rotating_keys_reseals_the_jobs_waiting_to_run(
    queue: JobQueue, redis, key_prefix: str, encryption_key: str
) -> None:
    """`users rotate-keys` re-seals waiting job bodies: once the old key is removed, they
    still open and run. One no key opens is left for the reader to park."""
    JobQueue(redis, Keyring([generate_key()]), prefix=key_prefix).put("command", body(9), who="UBOB")
    queue.put("command", body(1), who="UALICE")
    new_key = generate_key()
    rotating = JobQueue(redis, Keyring([new_key, encryption_key]), prefix=key_prefix)
    assert rotating.reseal() == 1
    fresh = JobQueue(redis, Keyring([new_key]), prefix=key_prefix)
    (job,) = fresh.read("c", count=10, block_ms=100)
    assert job.body == body(1) and [p.who for p in fresh.parked()] == ["UBOB"]


def run_one(queue: JobQueue, handler: Callable[[dict[str, str]], None], n: int = 7) -> None:
    """`handler` run as a consumer runs a job (the `n`th delivery), until the job is done."""
    finished = threading.Event()

    def job(job_body: dict[str, str]) -> None:
        try:
            handler(job_body)
        finally:
            finished.set()

    consumer = Consumer(
        queue, {"command": job}, threads=1, per_person=1, mysafe_concurrency=1, visibility=5
    ).start()
    try:
        queue.put("command", body(n), who="UALICE")
        assert finished.wait(10), "the job did not run"
        eventually(lambda: queue.pending() == 0, 10, "the job done")
    finally:
        consumer.stop()


def answer_scripts(queue: JobQueue, n: int) -> list[str]:
    """The scripts run while a job (the `n`th delivery) sends its answer as its last word."""

    def answer(_: dict[str, str]) -> None:
        last_word()
        assert may_send()
        message_sent()

    run_one(queue, answer, 1)  # the scripts loaded
    with Wire() as wire:
        run_one(queue, answer, n)
    return [c[1] for c in wire.commands() if c[0] == "EVALSHA"]


def test_a_commands_answer_sent_soon_after_its_read_costs_no_round_trip_of_its_own(
    queue: JobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is a command job's last word: once the job is done nothing can take it
    over, so `done` is its confirmation; and within `FRESH` of its read no other consumer
    can hold the job, so it needs no claim either (`FRESH` made long here, so that a slow
    test machine cannot let it pass)."""
    monkeypatch.setattr(consumer_module, "FRESH", 30.0)
    scripts = answer_scripts(queue, 2)
    assert queue._send.sha not in scripts
    assert queue._confirm.sha not in scripts


def test_an_answer_sent_later_than_that_is_claimed_first(
    queue: JobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `FRESH` another consumer may have taken the job over: the answer is claimed."""
    monkeypatch.setattr(consumer_module, "FRESH", 0.0)
    scripts = answer_scripts(queue, 2)
    assert scripts.count(queue._send.sha) == 1
    assert queue._confirm.sha not in scripts


def test_a_job_taken_over_does_not_send_again_the_answer_slack_had(queue: JobQueue) -> None:
    """A run died after Slack confirmed the answer, before its `done`: the consumer that
    takes the job over (at once, as it would after a visibility timeout) claims the answer,
    however fresh its own read, and is told not to send it."""
    queue.put("command", body(300), who="UALICE")
    (job,) = queue.read("dead", count=1, block_ms=100)
    assert queue.may_send(job.id, 1, "dead")
    queue.sent(job.id, 1)
    allowed: list[bool] = []

    def answer(_: dict[str, str]) -> None:
        last_word()
        allowed.append(may_send())

    finished = threading.Event()
    consumer = Consumer(
        queue,
        {"command": lambda b: (answer(b), finished.set())},
        threads=1,
        per_person=1,
        mysafe_concurrency=1,
        visibility=0.3,
    ).start()
    try:
        assert finished.wait(10), "the job was not taken over"
        eventually(lambda: queue.pending() == 0, 10, "the job done")
    finally:
        consumer.stop()
    assert allowed == [False]


@pytest.mark.parametrize("fresh", [30.0, 0.0], ids=["unclaimed", "claimed"])
def test_a_job_that_speaks_again_after_its_last_word_confirms_it_first(
    queue: JobQueue, redis, monkeypatch: pytest.MonkeyPatch, fresh: float
) -> None:
    """Should a job speak after what it called its last word, that word is confirmed before
    the next is claimed: a take-over then never sends it again. So whether the last word
    went out unclaimed (soon after the job's read) or claimed."""
    monkeypatch.setattr(consumer_module, "FRESH", fresh)
    confirmed: list[str | None] = []

    def talks_twice(_: dict[str, str]) -> None:
        last_word()
        assert may_send()
        message_sent()
        assert may_send()
        (job_id,) = [entry[0] for entry in redis.xrange(queue.stream)]
        confirmed.append(redis.hget(f"{queue._sent}{job_id}", "1"))
        message_sent()

    run_one(queue, talks_twice)
    assert confirmed == ["=sent"]


def take_over_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", "") == "jobs.lost_to_take_over"]


def test_a_job_done_here_just_before_a_renewal_is_not_reported_as_taken_over(
    queue: JobQueue, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A job marked done in Redis is still in its consumer's hands for a moment, and a renewal
    may look at it then: that is no take-over, and the operator reads no warning that says
    so (under load there were a thousand such warnings in a benchmark run, and not one
    take-over). A job another consumer really took over still warns: the test below."""
    renewed = threading.Event()

    class SlowToLetGo(JobQueue):
        """Holds the finishing thread between `done` and its letting go until the next
        renewal has looked at what the consumer holds."""

        def done(self, job_id: str, **kwargs: Any) -> None:
            super().done(job_id, **kwargs)
            renewed.clear()
            assert renewed.wait(10), "no renewal came"

        def renew(self, consumer: str, ids: Sequence[str]) -> Renewed:
            result = super().renew(consumer, ids)
            if set(ids) - set(result.kept):  # it looked, and found the job done
                renewed.set()
            return result

    slow = SlowToLetGo(queue.redis, queue.keyring, prefix=key_prefix)
    ran = threading.Event()
    consumer = Consumer(
        slow,
        {"command": lambda job: ran.set()},
        threads=1,
        per_person=1,
        mysafe_concurrency=1,
        visibility=0.6,  # a renewal every 0.2 s
    ).start()
    try:
        with caplog.at_level(logging.WARNING, logger="app.jobs.consumer"):
            slow.put("command", body(1), who="UALICE")
            eventually(lambda: ran.is_set() and slow.pending() == 0, 10, "the job done")
            eventually(lambda: renewed.is_set(), 10, "a renewal while the job was let go of")
    finally:
        consumer.stop()
    assert take_over_warnings(caplog) == []


@contextlib.contextmanager
def one_stuck_job(queue: JobQueue) -> Iterator[Consumer]:
    """A consumer that renews every 0.2 s, running one job that ends only on the way out."""
    running, release = threading.Event(), threading.Event()

    def stuck(job: dict[str, Any]) -> None:
        running.set()
        release.wait(30)  # longer than any wait of the tests: only the release ends it

    consumer = Consumer(
        queue, {"command": stuck}, threads=1, per_person=1, mysafe_concurrency=1, visibility=0.6
    ).start()
    try:
        queue.put("command", body(1), who="UALICE")
        assert running.wait(10)
        yield consumer
    finally:
        release.set()
        consumer.stop()


def test_a_job_another_consumer_took_over_is_reported_by_the_one_that_lost_it(
    queue: JobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    """The consumer running a job is silent too long (here: the other claims at once) and
    another takes its job over: its next renewal says so, naming one job."""
    with caplog.at_level(logging.WARNING, logger="app.jobs.consumer"), one_stuck_job(queue):
        queue.claim_abandoned("other", idle_ms=0)
        lost = eventually(lambda: take_over_warnings(caplog), 10, "the warning")
    assert lost[0].count == 1  # type: ignore[attr-defined]


def test_a_job_taken_over_and_done_elsewhere_while_it_ran_here_is_reported_once(
    queue: JobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    """The consumer running a job is silent too long, and the one that took the job over
    finishes it before the first one's next renewal: that renewal finds the job gone, which
    this consumer did not do. It says so once, and lets the job go."""
    with (
        caplog.at_level(logging.WARNING, logger="app.jobs.consumer"),
        one_stuck_job(queue) as consumer,
    ):
        (taken,) = queue.claim_abandoned("other", idle_ms=0)
        queue.done(taken.id)
        eventually(lambda: not consumer._holding(), 10, "the job let go of")
    assert [r.count for r in take_over_warnings(caplog)] == [1]  # type: ignore[attr-defined]
