"""The product as deployed: `mysafe-bot serve` (gunicorn, 2 workers) and `mysafe-bot worker`
started exactly as the README says, driven over signed HTTP, with Redis by `REDIS_URL` and
embedded. Defects that in-process tests cannot see (an empty /metrics, a 404 on a word, an
apply cut by SIGTERM) are caught here."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.approvals.machine import State
from app.approvals.store import ApprovalStore
from app.foundations.storage import connect
from app.sandbox.emulator import Emulator
from tests.support.deployed import deployed
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET
from tests.support.slack_requests import SlackClient, text_input

REQUEST_ID = re.compile(r"R-[2-9A-HJKMNP-Z]{5}")
PUT = "/api/mysafe/password/update"


def new_request(slack: SlackFake, known: set[str]) -> str:
    """The id of the next approval message posted (one not in `known`)."""

    def found() -> str | None:
        for call in slack.calls_to("chat.postMessage"):
            if call.args.get("channel") == "C0APPROVALS":
                ids = set(REQUEST_ID.findall(call.blocks_text())) - known
                if ids:
                    return ids.pop()
        return None

    request_id = slack.wait_for(found, timeout=30)
    known.add(request_id)
    return request_id


@pytest.fixture
def people(emulator: Emulator, link) -> int:
    link("UALICE", "alices")
    for name in ("carol", "dave"):
        emulator.add_user(name)
    return emulator.add_password("alices", name="Prod DB", username="ops", password="pw-Old-1")


def test_cli_commands_beside_make_run_leave_its_redis_running(
    slack_env: dict[str, str], emulator: Emulator, tmp_path
) -> None:
    """`make run` on the embedded Redis, and an operator's CLI commands beside it: the bot's
    Redis must still answer afterwards (the CLI used to shut it down on exit)."""
    from tests.support.processes import run

    env = {k: v for k, v in slack_env.items() if k != "REDIS_URL"}
    env["MYSAFE_BOT_DATA_DIR"] = str(tmp_path / "data")
    with deployed(env, tmp_path) as bot:
        _link_embedded(bot.url, emulator, tmp_path / "data", env)
        for command in (["users", "list"], ["audit", "--since", "1h"]):
            assert run(env, *command, cwd=tmp_path).returncode == 0
            assert requests.get(f"{bot.url}/readyz", timeout=5).status_code == 200
        assert bot.stop() == [0, 0]


def test_share_approve_deny_and_metrics_as_deployed(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, people: int, tmp_path
) -> None:
    # Jobs run in serve's workers and in `mysafe-bot worker` alike: on one host both write
    # their samples to one multiprocess directory, so /metrics counts the work wherever it ran.
    (tmp_path / "metrics").mkdir()
    env = {**slack_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    with deployed(env, tmp_path) as bot:
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        known: set[str] = set()
        # A reason with the word "payload" is an ordinary command, not a 404.
        answer = client.command(
            "UALICE", f'share password {people} with user:carol reason "rotate the payload key"'
        )
        assert answer.status_code == 200
        shared = new_request(slack, known)
        assert client.click("UAPPROVER1", "approve", shared).status_code == 200
        slack.wait_for(
            lambda: [
                c
                for c in slack.calls_to("chat.update")
                if shared in c.blocks_text() and "Applied" in c.blocks_text()
            ]
        )
        assert {u["username"] for u in emulator.get_password(people)["users_allowed"]} == {"carol"}

        client.command("UALICE", f"share password {people} with user:dave")
        refused = new_request(slack, known)
        client.click("UAPPROVER2", "deny", refused)
        slack.wait_calls("views.open")
        client.submit_view(
            "UAPPROVER2",
            "deny_reason",
            {"reason": {"value": text_input("not on call")}},
            private_metadata=refused,
        )
        slack.wait_for(
            lambda: [
                c
                for c in slack.calls_to("chat.update")
                if refused in c.blocks_text() and "not on call" in c.blocks_text()
            ]
        )
        assert len(emulator.calls_to("PUT", PUT)) == 1

        metrics = requests.get(f"{bot.url}/metrics", timeout=10).text
        assert metrics.strip(), "/metrics is empty"
        counted = re.search(
            r'mysafe_bot_requests_total\{[^}]*outcome="applied"[^}]*'
            r'verb="share"[^}]*\} (\d+)',
            metrics,
        ) or re.search(
            r'mysafe_bot_requests_total\{[^}]*verb="share"[^}]*outcome="applied"[^}]*\} (\d+)', metrics
        )
        assert counted and float(counted.group(1)) >= 1, metrics[:2000]
        assert bot.stop() == [0, 0]


def _link_embedded(url: str, emulator: Emulator, data_dir, env: dict[str, str]) -> None:
    """`make run`'s operator links keys with the CLI beside the running bot."""
    from tests.support.processes import run

    client_id, client_secret = emulator.add_user("alices")
    cli_env = {k: v for k, v in env.items() if k != "REDIS_URL"}
    linked = run(
        cli_env,
        "users",
        "link",
        "UALICE",
        "--client-id",
        client_id,
        "--mysafe-username",
        "alices",
        stdin=client_secret + "\n",
        cwd=data_dir.parent,
    )
    assert linked.returncode == 0, linked.stderr
    assert requests.get(f"{url}/readyz", timeout=5).status_code == 200  # still serving


def test_sigterm_during_applies_leaves_each_applied_once(
    slack_env: dict[str, str],
    slack: SlackFake,
    emulator: Emulator,
    people: int,
    redis_url: str,
    key_prefix: str,
    tmp_path,
) -> None:
    """SIGTERM reaches serve while ten applies wait on a slow MySafe: each request ends
    applied exactly once — finished by gunicorn's grace period or taken over by the worker."""
    emulator.options.latency = (0.05, 0.2)
    names = [f"grantee{n}" for n in range(10)]
    for name in names:
        emulator.add_user(name)
    # The clicks' jobs serve's own workers had not finished are the worker's after the job
    # visibility: 3 s, not the 30 s default this test used to sit out.
    env = {**slack_env, "MYSAFE_BOT_APPLY_LEASE": "5", "MYSAFE_BOT_JOB_VISIBILITY": "3"}
    with deployed(env, tmp_path) as bot:
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        known: set[str] = set()
        ids = []
        for name in names:
            client.command("UALICE", f"share password {people} with user:{name}")
            ids.append(new_request(slack, known))
        barrier = threading.Barrier(len(ids))

        def click(request_id: str) -> int:
            barrier.wait()
            return client.click("UAPPROVER1", "approve", request_id).status_code

        with ThreadPoolExecutor(len(ids)) as pool:
            assert set(pool.map(click, ids)) == {200}
        slack.wait_for(lambda: emulator.calls_to("PUT", PUT))  # applies are under way
        bot.serve.terminate()
        assert bot.serve.wait(timeout=60) == 0
        store = ApprovalStore(connect(redis_url), prefix=key_prefix)
        slack.wait_for(lambda: all(store.get(r).state is State.APPLIED for r in ids), timeout=60)
    shared = {u["username"] for u in emulator.get_password(people)["users_allowed"]}
    assert shared == set(names)
    assert len(emulator.calls_to("PUT", PUT)) == len(names)
