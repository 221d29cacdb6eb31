"""Nothing acknowledged is lost, as deployed: `mysafe-bot serve` (and `mysafe-bot worker`) as
subprocesses, driven over signed HTTP, with every web worker SIGKILLed right after each ack."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

from app.approvals.changes import Change, Verb
from app.approvals.machine import State
from app.approvals.store import ApprovalStore
from app.foundations.settings import Settings
from app.foundations.storage import connect
from app.jobs.spare_cpu import JOB_NICENESS
from app.mysafe.models import Kind, UserShare
from app.ops.runtime import build_runtime
from app.sandbox.emulator import Emulator
from app.slack.sent_messages import SentMessages
from tests.deploy.test_deployed import PUT, REQUEST_ID
from tests.e2e.test_durable import sigkill, worker_to_kill
from tests.e2e.test_sweep_e2e import expired_updates, expiry_dms
from tests.support import processes
from tests.support.deployed import Deployed, deployed, start_worker
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET
from tests.support.slack_requests import SlackClient, text_input
from tests.support.waiting import eventually

T = TypeVar("T")

#: A consumer silent this long (seconds) has its jobs taken over.
VISIBILITY = "2"


@pytest.fixture
def entry(emulator: Emulator, link) -> int:
    link("UALICE", "alices")
    return emulator.add_password("alices", name="Prod DB", username="ops", password="pw-Old-1")


def kill_web_workers(bot: Deployed) -> None:
    """SIGKILL every gunicorn worker, then wait until the master has started new ones."""
    killed = bot.web_workers()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        fresh = bot.web_workers() - killed
        if len(fresh) == 2:
            return
        time.sleep(0.05)  # the master forks on SIGCHLD; nothing to await from outside
    pytest.fail("gunicorn did not start new workers")


def approval_ids(slack: SlackFake) -> Counter[str]:
    """How many approval messages were posted per request id."""
    return Counter(
        rid
        for call in slack.calls_to("chat.postMessage")
        if call.args.get("channel") == "C0APPROVALS"
        for rid in set(REQUEST_ID.findall(call.blocks_text()))
    )


def test_sigkill_of_every_web_worker_after_each_of_20_acks_loses_and_repeats_nothing(
    slack_env: dict[str, str],
    slack: SlackFake,
    emulator: Emulator,
    entry: int,
    redis_url: str,
    key_prefix: str,
    tmp_path,
) -> None:
    """Ten commands, five approve clicks and five deny-reason forms, each ack followed at once
    by SIGKILL of every web worker: each produces its effect and its answer exactly once.

    serve's web workers only ack; the jobs run in the `mysafe-bot worker` serve starts beside
    them. A kill right after the ack shows that what was acked had been stored first: nothing
    in a killed web worker's memory is needed for the work to happen."""
    emulator.options.latency = (0.02, 0.1)  # the kill lands while jobs are under way
    grantees = [f"grantee{n}" for n in range(10)]
    entries = {}  # one entry each: applies cut short are taken over together, not in a queue
    for name in grantees:
        emulator.add_user(name)
        entries[name] = emulator.add_password(
            "alices", name=f"DB {name}", username="ops", password="pw-Old-1"
        )
    env = {
        **slack_env,
        "MYSAFE_BOT_JOB_VISIBILITY": VISIBILITY,
        "MYSAFE_BOT_APPLY_LEASE": "30",
        "MYSAFE_BOT_RATE_LIMIT": "0",
    }
    store = ApprovalStore(connect(redis_url), prefix=key_prefix)
    with deployed(env, tmp_path, worker=False) as bot:
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        for name in grantees:
            ack = client.command("UALICE", f"share password {entries[name]} with user:{name}")
            assert ack.status_code == 200 and "Working on" in ack.text
            kill_web_workers(bot)
        posted = slack.wait_for(lambda: len(ids := approval_ids(slack)) == 10 and ids, 60)
        requests_by_grantee = {store.get(rid).change.add_users[0].username: rid for rid in posted}
        approved = [requests_by_grantee[n] for n in grantees[:5]]
        denied = [requests_by_grantee[n] for n in grantees[5:]]
        for request_id in approved:
            assert client.click("UAPPROVER1", "approve", request_id).status_code == 200
            kill_web_workers(bot)
        for count, request_id in enumerate(denied, start=1):
            assert client.click("UAPPROVER2", "deny", request_id).status_code == 200
            slack.wait_calls("views.open", count, timeout=30)
            form = client.submit_view(
                "UAPPROVER2",
                "deny_reason",
                {"reason": {"value": text_input(f"no {request_id}")}},
                private_metadata=request_id,
            )
            assert form.status_code == 200
            kill_web_workers(bot)

        try:
            slack.wait_for(lambda: all(store.get(r).state is State.APPLIED for r in approved), 120)
        except AssertionError:
            pytest.fail(
                f"not applied: {[(store.get(r).state, store.events(r)[-2:]) for r in approved]}"
            )
        slack.wait_for(lambda: all(store.get(r).deny_reason == f"no {r}" for r in denied), 60)
        slack.wait_for(lambda: all(any(r in a["text"] for a in slack.responses) for r in posted), 60)
        assert bot.stop() == [0]

    assert approval_ids(slack) == Counter({rid: 1 for rid in posted})  # 0 lost, 0 repeated
    assert sorted(
        p.json["users_allowed"][-1]["username"] for p in emulator.calls_to("PUT", PUT)
    ) == sorted(grantees[:5])
    for name in grantees:
        shared = {u["username"] for u in emulator.get_password(entries[name])["users_allowed"]}
        assert shared == ({name} if name in grantees[:5] else set())
    for request_id in denied:  # each reason added once (the request's own event list)
        given = [e for e in store.events(request_id) if e["detail"] == "reason given"]
        assert len(given) == 1, given
    for request_id in posted:  # each command's answer, shown once: replays replace it
        answers = {a["text"] for a in slack.responses if request_id in a["text"]}
        assert len(answers) == 1
    assert all(
        a.get("replace_original") is not False
        for a in slack.responses
        if REQUEST_ID.search(a["text"]) and "Working" not in a["text"]
    )


POLICY = """\
rules:
  - name: default
    approvals: 1
    approvers: [UAPPROVER1]
    remind_after: 30m
"""


def applied_share(
    client: SlackClient, slack: SlackFake, store: ApprovalStore, entry: int, grantee: str
) -> str:
    """alices shares `entry` with `grantee` for an hour and UAPPROVER1 approves: applied."""
    before = set(approval_ids(slack))
    assert (
        client.command("UALICE", f"share password {entry} with user:{grantee} for 1h").status_code
        == 200
    )
    (request_id,) = slack.wait_for(lambda: set(approval_ids(slack)) - before or None, 30)
    assert client.click("UAPPROVER1", "approve", request_id).status_code == 200
    slack.wait_for(lambda: store.get(request_id).state is State.APPLIED, 30)
    return request_id


def test_sigkill_of_every_web_worker_after_nudge_extend_and_revoke_now_loses_and_repeats_nothing(
    slack_env: dict[str, str],
    slack: SlackFake,
    emulator: Emulator,
    entry: int,
    redis_url: str,
    key_prefix: str,
    tmp_path,
) -> None:
    """Nudge, Extend and Revoke now are stored as jobs before their (empty) ack: each click,
    followed at once by SIGKILL of every web worker, has its effect: one extension request,
    one access taken back, and the approvers reminded (twice at most: see below)."""
    emulator.options.latency = (0.02, 0.1)  # the kill lands while jobs are under way
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    env = {
        **slack_env,
        "MYSAFE_BOT_JOB_VISIBILITY": VISIBILITY,
        "MYSAFE_BOT_APPLY_LEASE": "10",
        "MYSAFE_BOT_RATE_LIMIT": "0",
        "MYSAFE_BOT_POLICY": str(policy),
    }
    entries = {}
    for name in ("carol", "dave"):
        emulator.add_user(name)
        entries[name] = emulator.add_password(
            "alices", name=f"DB {name}", username="ops", password="pw-Old-1"
        )
    store = ApprovalStore(connect(redis_url), prefix=key_prefix)
    with deployed(env, tmp_path, worker=False) as bot:
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        assert client.command("UALICE", f"share password {entry} with user:carol").status_code == 200
        (pending,) = slack.wait_for(lambda: list(approval_ids(slack)) or None, 30)
        extended = applied_share(client, slack, store, entries["carol"], "carol")
        revoked = applied_share(client, slack, store, entries["dave"], "dave")
        known = set(approval_ids(slack))

        for action_id, request_id in (
            ("nudge", pending),
            ("revoke_extend", extended),
            ("revoke_now", revoked),
        ):
            assert client.click("UALICE", action_id, request_id, channel="D1").text == ""
            kill_web_workers(bot)

        def in_thread(request_id: str) -> list[str]:
            ts = SentMessages(store.redis, prefix=key_prefix).of(request_id).ts
            return [
                c.args["text"]
                for c in slack.calls_to("chat.postMessage")
                if ts and c.args.get("thread_ts") == ts
            ]

        slack.wait_for(lambda: in_thread(pending), 60)
        (extension,) = slack.wait_for(lambda: set(approval_ids(slack)) - known or None, 60)
        slack.wait_for(lambda: [t for t in in_thread(revoked) if "Time is up" in t], 90)
        slack.wait_for(lambda: any("were reminded" in a["text"] for a in slack.responses), 30)
        assert bot.stop() == [0]

    # The reminder is sent after the nudge's once-per-period key: a kill between the two
    # makes the replay send it again (at least once; exactly once for the others).
    assert 1 <= len(in_thread(pending)) <= 2
    assert store.get(extension).change.extends == extended
    assert approval_ids(slack)[extension] == 1  # one extension request
    assert len([t for t in in_thread(revoked) if "Time is up" in t]) == 1
    assert [u["username"] for u in emulator.get_password(entries["dave"])["users_allowed"]] == []
    assert [u["username"] for u in emulator.get_password(entries["carol"])["users_allowed"]] == [
        "carol"
    ]  # extending asked for a new period; the share itself is untouched


def test_sigkill_of_the_worker_while_it_tells_slack_of_a_mass_expiry_loses_no_update(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, entry: int, redis, tmp_path
) -> None:
    """`mysafe-bot worker` expires requests and its consumer starts telling Slack; it is
    SIGKILLed while the first message updates are on their way. The next worker takes the
    job over: every requester is told once, and every message updated (those whose render
    lock the killed worker held, by the repair pass once that lock has run out)."""
    env = {**slack_env, "MYSAFE_BOT_JOB_VISIBILITY": VISIBILITY}
    maker = build_runtime(Settings.from_env(env, dotenv=None), redis=redis, front=False)
    ids = []
    for n in range(10):
        emulator.add_user(f"user{n}")
        change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare(f"user{n}"),))
        ids.append(maker.engine.submit(change, requester="UALICE").id)
    store = maker.engine.store
    past = time.time() - 1
    for request_id in ids:  # due now, as a day later
        redis.hset(store.request_keys(request_id)[0], "expires", repr(past))
        store.keep_due({request_id: past})
    held = slack.hold("chat.update")
    try:
        with worker_to_kill(env, tmp_path) as worker:
            slack.wait_for(lambda: slack.most_in_flight >= 1, 60)  # its tellers are under way
            sigkill(worker)
    finally:
        held.set()
    assert all(r.state is State.EXPIRED for r in store.get_many(ids))

    assert expiry_dms(slack, ids) == Counter()  # killed before any DM
    worker = start_worker(env, tmp_path)
    try:
        slack.wait_for(lambda: set(expiry_dms(slack, ids)) == set(ids), 60)
        slack.wait_for(lambda: expired_updates(slack, ids) == set(ids), 30)
        # Marked told right after its DM: nothing to await from outside.
        eventually(lambda: all(r.untold is None for r in store.get_many(ids)), 30, "every expiry told")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        maker.close()
    assert expiry_dms(slack, ids) == Counter(dict.fromkeys(ids, 1))


def niceness(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


def of_threads(pid: int, read: Callable[[int], T]) -> dict[int, T]:
    """`read(thread id)` for each thread of `pid` (the kernel's view, through /proc); a thread
    that ends meanwhile is left out."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found[int(task.name)] = read(int(task.name))
    return found


def lowered_threads(pid: int) -> set[int]:
    """The threads of `pid` at a niceness `JOB_NICENESS` above the process's, in the fair
    class (an idle one would stop while anything else on the host runs)."""
    lowered = min(niceness(pid) + JOB_NICENESS, 19)
    policies = of_threads(pid, os.sched_getscheduler)
    return {
        t
        for t, nice in of_threads(pid, niceness).items()
        if nice == lowered and policies.get(t) == os.SCHED_OTHER
    }


def threads_on(pid: int) -> set[frozenset[int]]:
    """The CPU sets the threads of `pid` may run on."""
    return {frozenset(cpus) for cpus in of_threads(pid, os.sched_getaffinity).values()}


def test_serve_runs_the_work_in_workers_of_its_own_that_yield_the_cpu_to_the_acks(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, entry: int, tmp_path
) -> None:
    """`serve` alone is the whole bot: its web workers only ack, and the work runs in the
    `mysafe-bot worker`s it supervises (one per web worker), their jobs at a lower CPU
    priority, the rest of them at serve's: they must start and end access on time. With
    them frozen a command is still acked at once; killed, they are started again and the
    command answered."""
    env = {**slack_env, "MYSAFE_BOT_JOB_VISIBILITY": VISIBILITY}
    with deployed(env, tmp_path, workers=2, worker=False) as bot:
        workers = bot.serve_workers()
        assert len(workers) == 2
        assert {niceness(pid) for pid in bot.web_workers()} == {niceness(bot.serve.pid)}
        assert {niceness(pid) for pid in workers} == {niceness(bot.serve.pid)}
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)

        processes.stop(workers)  # the work cannot run: the acks do not wait for it
        for _ in range(3):
            ack = client.command("UALICE", "whoami")
            assert ack.status_code == 200 and "Working on" in ack.text
        for pid in workers:
            os.kill(pid, signal.SIGKILL)

        answers = slack.wait_for(lambda: len(slack.responses) >= 3 and slack.responses, 30)
        assert all("alices" in answer["text"] for answer in answers)
        restarted = eventually(
            lambda: len(bot.serve_workers()) == 2 and bot.serve_workers(),
            10,
            "serve's workers started again",
        )
        assert not restarted & workers  # started again by serve
        # The jobs ran behind the acks; the rest of each worker (its main thread: expiries,
        # heartbeats) did not.
        assert any(lowered_threads(pid) for pid in restarted)
        assert not any(pid in lowered_threads(pid) for pid in restarted)
        ours = niceness(bot.serve.pid)
        for pid in restarted:  # lowered once, whichever thread started a job thread
            assert set(of_threads(pid, niceness).values()) <= {ours, min(ours + JOB_NICENESS, 19)}
        assert bot.stop() == [0]


#: Seconds a command may take to be answered while busy processes share serve's core: the
#: work's share of it then is small, never nothing. Stopped, it waited as long as they ran.
BUSY_ANSWER = 20


def test_a_busy_host_slows_the_work_and_never_stops_it(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, entry: int, tmp_path
) -> None:
    """A bot shares its host with whatever else runs there. With two busy loops on its only
    core from before it starts, serve still starts its workers and answers a command: the
    acks come first, but no priority of the work's may let a busy host stop it."""
    core = min(os.sched_getaffinity(0))
    busy = [processes.busy_loop(core) for _ in range(2)]
    try:
        with deployed(slack_env, tmp_path, workers=1, worker=False, cpus={core}) as bot:
            client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
            ack = client.command("UALICE", "whoami")
            assert ack.status_code == 200 and "Working on" in ack.text
            answers = slack.wait_for(lambda: slack.responses, BUSY_ANSWER)
            assert "alices" in answers[0]["text"]
            assert bot.stop() == [0]
    finally:
        for process in busy:
            process.kill()
            process.wait()


def test_serve_s_workers_leave_a_core_to_acks_that_outrun_the_work_and_take_it_back_after(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, entry: int, tmp_path
) -> None:
    """While commands come in faster than their work is done, serve's job workers keep off
    one core, which the acks then have to themselves (`app.jobs.spare_cpu.CoreForAcks`); once
    the commands stop, the work has every core again. A slow MySafe holds the work back.
    Workers pinned one to a CPU (`app.ops.cpu_pinning`, on by default) have no core to leave:
    this is the placement with pinning off."""
    everywhere = frozenset(os.sched_getaffinity(0))
    if len(everywhere) < 2:
        pytest.skip("a core to leave needs two to choose from")
    emulator.inject(status=0, delay=0.3, times=100_000)  # every MySafe call: the work lags
    # One person sends them all; the kernel places the workers.
    env = {**slack_env, "MYSAFE_BOT_RATE_LIMIT": "0", "MYSAFE_BOT_CPU_PINNING": "off"}
    with deployed(env, tmp_path, workers=2, worker=False) as bot:
        workers = bot.serve_workers()
        assert len(workers) == 2

        def kept_off() -> bool:
            return all(threads_on(pid) == {everywhere - {min(everywhere)}} for pid in workers)

        assert all(threads_on(pid) == {everywhere} for pid in workers)
        with flooding(bot, slack):
            eventually(kept_off, 30, "serve's job workers left a core to the acks")

        eventually(
            lambda: all(threads_on(pid) == {everywhere} for pid in workers),
            10,
            "the work took every core back once the commands stopped",
        )
        assert bot.stop() == [0]


def test_serve_s_workers_start_no_job_through_a_flood_of_acks_and_answer_every_one_after(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, entry: int, tmp_path
) -> None:
    """A flood of commands (the job stream growing by hundreds a second) has Slack's 3-second
    deadline on every ack and none on its work: serve's workers start no new job while it
    lasts (`app.jobs.spare_cpu.AcksFirst`, for its first seconds), and every command is
    answered, once, when it stops."""
    env = {**slack_env, "MYSAFE_BOT_RATE_LIMIT": "0"}  # one person sends them all
    with deployed(env, tmp_path, workers=2, worker=False) as bot:
        warm = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        warm.command("UALICE", "whoami")
        slack.wait_responses(1, timeout=30)  # serve's workers are up and looking
        with flooding(bot, slack) as acked:
            eventually(lambda: acked() - len(slack.responses) >= 300, 30, "acks outran work")
            eventually(lambda: holding(tmp_path) == 2, 30, "both workers hold the work")
            answered, sent = len(slack.responses), acked()
            eventually(lambda: acked() >= sent + 300, 30, "300 more acks")
            during = len(slack.responses) - answered
        # The jobs running when the hold began may end during it: two (one person's bound).
        assert during <= 4, f"{during} answers while the flood went on"
        total = acked() + 1
        eventually(lambda: len(slack.responses) >= total, 60, "every command answered")
        assert len(slack.responses) == total, "each once"
        assert bot.stop() == [0]


@contextlib.contextmanager
def flooding(bot: Deployed, slack: SlackFake) -> Iterator[Callable[[], int]]:
    """Eight senders of `whoami` back to back (they outrun the work) for the block; yields
    how many were acked so far. A sender's failed ack fails the test once they stop."""
    stop, lock, acked = threading.Event(), threading.Lock(), [0]

    def send() -> None:
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        while not stop.is_set():
            ack = client.command("UALICE", "whoami")
            assert ack.status_code == 200 and "Working on" in ack.text
            with lock:
                acked[0] += 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        senders = [pool.submit(send) for _ in range(8)]
        try:
            yield lambda: acked[0]
        finally:
            stop.set()
        for sender in senders:
            sender.result()


def holding(cwd: Path) -> int:
    """How many of serve's workers hold the work now, as serve's log says: each worker's holds
    begin (`jobs.flood`) and end (`jobs.flood_over`) in turn, and on a busy host one may end
    at a look that finds the stream not growing and begin again at the next."""
    log = (cwd / "serve.log").read_text()
    return log.count('"event": "jobs.flood"') - log.count('"event": "jobs.flood_over"')
