"""Once for real: a 1-minute share through `mysafe-bot serve` and `mysafe-bot worker`, each its own
process, with nothing shifted — the worker takes the access back by itself about a minute after
the approval, and says so in the approval message's thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.sandbox.emulator import Emulator
from tests.support.processes import free_port, wait_until_ready
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET
from tests.support.slack_requests import SlackClient
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from app.approvals.engine import Engine

REQUEST = r"R-[2-9A-HJ-NP-Z]{5}"


@pytest.fixture
def processes(slack_env: dict[str, str], tmp_path) -> Iterator[str]:
    """serve (one worker) and worker, as the Procfile runs them; yields serve's URL."""
    env = {"PATH": os.environ["PATH"], **slack_env}
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "worker", "--interval", "0.5"],
        env=env,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", serve, time.monotonic() + 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        for process in (serve, worker):
            process.send_signal(signal.SIGTERM)
        for process in (serve, worker):
            assert process.wait(timeout=30) == 0


@pytest.mark.slow
def test_a_one_minute_share_ends_by_itself(
    processes: str, slack: SlackFake, emulator: Emulator, link
) -> None:
    import re

    link("UALICE", "alices")
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="Prod DB", username="u", password="pw-1")
    user = SlackClient(processes, SIGNING_SECRET, slack.response_url)
    user.command("UALICE", f"share password {entry} with user:carol for 1m")
    told = slack.wait_responses(1)[0]["text"]
    request_id = re.search(REQUEST, told).group(0)  # type: ignore[union-attr]
    user.click("UAPPROVER1", "approve", request_id)
    slack.wait_for(lambda: [c for c in slack.calls_to("chat.update") if "Applied" in str(c.args)])
    assert [u["username"] for u in emulator.get_password(entry)["users_allowed"]] == ["carol"]
    approved = time.monotonic()

    reply = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")], timeout=90
    )[0]
    took = time.monotonic() - approved
    assert "Time is up: carol (view) removed" in reply.args["text"]
    assert emulator.get_password(entry)["users_allowed"] == []
    assert 50 < took < 75, took
    (put,) = emulator.calls_to("PUT", "/api/mysafe/password/update")[1:]
    assert put.user == "alices"


@pytest.mark.slow
def test_four_worker_processes_racing_revoke_each_share_once(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, link, services, tmp_path
) -> None:
    from app.approvals.changes import Change, Verb
    from app.approvals.engine import Engine
    from app.foundations.clock import shifted
    from app.mysafe.models import Kind, UserShare

    link("UALICE", "alices")
    engine = Engine(services)
    entry = emulator.add_password("alices", name="Prod DB", username="u", password="pw-1")
    grantees = [f"g{n}" for n in range(8)]
    with shifted(-120):  # approved two minutes ago, for one minute: due now
        for name in grantees:
            emulator.add_user(name)
            request = engine.submit(
                Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare(name),), duration=60),
                requester="UALICE",
            )
            engine.approve(request.id, "UAPPROVER1")
    assert len(emulator.get_password(entry)["users_allowed"]) == 8
    env = {"PATH": os.environ["PATH"], **slack_env}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "app.ops.cli", "worker", "--once"],
            env=env,
            stderr=subprocess.DEVNULL,
            cwd=tmp_path,
        )
        for _ in range(4)
    ]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0, 0]
    assert emulator.get_password(entry)["users_allowed"] == []
    assert len(emulator.calls_to("PUT", "/api/mysafe/password/update")) == 8 + 8
    done = [r for r in engine.audit.read() if r.event == "revoke.done"]
    assert len(done) == 8 and len({r.request for r in done}) == 8


#: The worker's lease on a revoke (and on the entry while it writes) in the SIGKILL tests:
#: short, so the take-over does not wait out the default two minutes.
LEASE = "5"
PUT_PASSWORD = "/api/mysafe/password/update"


def _worker_once(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "worker", "--once"],
        env=env,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )


def _killed_once_its_put_arrived(emulator: Emulator, env: dict[str, str], cwd: Path) -> None:
    """`mysafe-bot worker` takes the due end and is SIGKILLed while MySafe holds its PUT;
    MySafe then takes the PUT its sender no longer waits for: it lands, nothing is recorded."""
    held = emulator.hold(method="PUT", path_prefix=PUT_PASSWORD)
    dying = _worker_once(env, cwd)
    try:
        assert held.arrived.wait(60), "the worker's end never reached MySafe"
        dying.send_signal(signal.SIGKILL)
    finally:
        dying.wait(timeout=30)
        held.release()


def _taken_over(engine: Engine, env: dict[str, str], cwd: Path, request_id: str) -> None:
    """Another `worker --once`, run until the dead one's claim has run out and it finished the end."""
    from tests.support.waiting import eventually

    def done() -> bool:
        assert _worker_once(env, cwd).wait(timeout=60) == 0
        revoke = engine.new_revoker().store.get(request_id)
        return revoke is not None and revoke.state == "done"

    eventually(done, 60, "the end taken over once the dead worker's claim ran out")


@pytest.mark.slow
def test_a_worker_sigkilled_after_its_revoke_reached_mysafe_is_taken_over_without_undoing_a_later_share(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, link, services, tmp_path
) -> None:
    """Issue 25, with a real SIGKILL: the worker's end lands unrecorded; carol is then given
    view for good. The worker that takes the end over finishes what was decided and leaves
    her new access."""
    from app.approvals.changes import Change, Verb
    from app.approvals.engine import Engine
    from app.approvals.machine import State
    from app.foundations.clock import shifted
    from app.mysafe.models import Kind, UserShare

    link("UALICE", "alices")
    emulator.add_user("carol")
    engine = Engine(services)
    entry = emulator.add_password("alices", name="Prod DB", username="u", password="pw-1")
    share = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol"),))
    with shifted(-120):  # approved two minutes ago, for one minute: due now
        first = engine.submit(replace(share, duration=60), requester="UALICE")
        engine.approve(first.id, "UAPPROVER1")
    for_good = engine.submit(share, requester="UALICE")
    env = {"PATH": os.environ["PATH"], **slack_env, "MYSAFE_BOT_APPLY_LEASE": LEASE}

    _killed_once_its_put_arrived(emulator, env, tmp_path)
    eventually(lambda: _sharing(emulator, entry) == {}, 10, "the end landing")
    revoke = engine.new_revoker().store.get(first.id)
    assert revoke is not None and revoke.state == "revoking"  # the dead worker recorded nothing

    applied = engine.approve(for_good.id, "UAPPROVER1").request  # waits out the dead one's lock
    assert applied.state is State.APPLIED, applied.error
    assert _sharing(emulator, entry) == {"carol": False}

    _taken_over(engine, env, tmp_path, first.id)
    assert _sharing(emulator, entry) == {"carol": False}  # view, for good
    assert len(emulator.calls_to("PUT", PUT_PASSWORD)) == 2 + 1  # share, end, for good


@pytest.mark.slow
def test_rotate_after_taken_over_after_a_real_sigkill_sets_one_password(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, link, services, tmp_path
) -> None:
    """Issue 25: the take-over of a `rotate-after` end whose worker was SIGKILLed after its
    PUT landed set a second new password. It sets none: the one that landed stays."""
    from app.approvals.changes import Change, Verb
    from app.approvals.engine import Engine
    from app.foundations.clock import shifted
    from app.mysafe.models import Kind, UserShare

    link("UALICE", "alices")
    emulator.add_user("carol")
    engine = Engine(services)
    entry = emulator.add_password("alices", name="Prod DB", username="u", password="pw-1")
    with shifted(-120):
        shared = engine.submit(
            Change(
                Verb.SHARE,
                Kind.PASSWORD,
                entry,
                add_users=(UserShare("carol"),),
                duration=60,
                rotate_after=True,
            ),
            requester="UALICE",
        )
        engine.approve(shared.id, "UAPPROVER1")
    env = {"PATH": os.environ["PATH"], **slack_env, "MYSAFE_BOT_APPLY_LEASE": LEASE}

    _killed_once_its_put_arrived(emulator, env, tmp_path)
    eventually(lambda: _sharing(emulator, entry) == {}, 10, "the end landing")
    password = emulator.get_password(entry)["password"]
    assert password != "pw-1"

    _taken_over(engine, env, tmp_path, shared.id)
    writes = sum(1 for put in emulator.calls_to("PUT", PUT_PASSWORD) if "password" in put.json)
    assert writes == 1  # counted, never shown: the bodies hold the new passwords
    assert emulator.get_password(entry)["password"] == password
    assert _sharing(emulator, entry) == {}


def _sharing(emulator: Emulator, entry: int) -> dict[str, bool]:
    return {u["username"]: u["can_edit"] for u in emulator.get_password(entry)["users_allowed"]}
