"""Between rows the bench waits for the work behind the acks to be done: until the bot's job
queue is empty, not only until answers stop arriving, since work can run a while and answer
through no `response_url` (a form's, an event's), and the job workers' CPU counts (they are
process groups of their own)."""

from __future__ import annotations

from types import SimpleNamespace

from app.foundations.crypto import Keyring, generate_key
from app.jobs.queue import JobQueue
from benchmarks import flows, harness

#: Above any pid Linux gives (at most 2**22): a bot with no process, using no CPU.
NOBODY = 2**31 - 1


class _Backlog:
    """A queue worked off one job per look, as a job worker would."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.looks = 0

    def __call__(self) -> int:
        self.looks += 1
        left, self.jobs = self.jobs, max(0, self.jobs - 1)
        return left


def test_settle_waits_until_no_job_is_left_though_nothing_is_answered() -> None:
    backlog = _Backlog(jobs=3)
    bench = SimpleNamespace(slack=SimpleNamespace(response_count=0), job_backlog=backlog)
    flows.settle(bench, serve=NOBODY, quiet=0.01, timeout=5)  # no CPU, no answers
    assert backlog.jobs == 0 and backlog.looks == 4


def test_the_backlog_is_the_bots_queue_in_redis(redis, key_prefix) -> None:
    queue = JobQueue(redis, Keyring([generate_key()]), prefix=key_prefix)
    ids = [queue.put("click", {"n": n}, who="UAPPROVER") for n in range(3)]
    assert harness.job_backlog(redis, prefix=key_prefix) == 3
    queue.ensure_group()
    queue.read("bench-consumer", count=3, block_ms=100)
    queue.done(str(ids[0]))
    assert harness.job_backlog(redis, prefix=key_prefix) == 2
