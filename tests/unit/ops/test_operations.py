"""Operating the bot: rate limits, metrics across workers, doctor, Sentinel and Cluster Redis."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.foundations.crypto import Keyring, generate_key
from app.foundations.storage import connect
from app.jobs.queue import JobQueue
from app.sandbox.emulator import Emulator
from tests.support.processes import free_port, wait_until_ready, web_workers
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient
from tests.support.waiting import eventually


@pytest.fixture
def slack_env(slack_env: dict[str, str]) -> dict[str, str]:
    return {**slack_env, "MYSAFE_BOT_RATE_LIMIT": "3"}


# --- rate limits ----------------------------------------------------------------------------


def test_commands_are_rate_limited_per_user_and_told_when_to_retry(
    bot: Bot, user: SlackClient, slack: SlackFake
) -> None:
    answers = [user.command("UALICE", "help").text for _ in range(4)]
    assert all("/mysafe" in a for a in answers[:3])
    assert "Slow down" in answers[3] and re.search(r"Try again in \d+ s", answers[3])
    assert "Slow down" not in user.command("UBOB", "help").text  # per user


def test_the_limit_holds_across_workers(
    bot: Bot, slack_env: dict[str, str], redis, slack: SlackFake
) -> None:
    """A second app process sharing Redis counts against the same budget."""
    from werkzeug.serving import make_server

    from app import create_app
    from app.foundations.settings import Settings
    from app.ops.runtime import build_runtime

    settings = Settings.from_env(slack_env, dotenv=None)
    other = create_app(build_runtime(settings, redis=redis))
    server = make_server("127.0.0.1", 0, other, threaded=True)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        first = SlackClient(bot.url, "test-signing-secret", slack.response_url)
        second = SlackClient(
            f"http://127.0.0.1:{server.server_port}", "test-signing-secret", slack.response_url
        )
        texts = [c.command("UALICE", "help").text for c in (first, second, first, second)]
    finally:
        server.shutdown()
        server.server_close()
    assert ["Slow down" in t for t in texts] == [False, False, False, True]


# --- metrics across gunicorn workers --------------------------------------------------------


def _hit(url: str, times: int) -> None:
    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(lambda _: requests.get(url, timeout=15).status_code, range(times)))
    assert codes == [200] * times


@pytest.mark.slow
def test_metrics_add_up_across_gunicorn_workers(env: dict[str, str], tmp_path) -> None:
    """Counts survive and add up across worker processes: 30 requests, then gunicorn replaces
    every worker (each told to stop: SIGHUP reloads the approval policy instead), then 30 more;
    /metrics must say 60, whichever worker answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port), "--workers", "2"],
        env={"PATH": os.environ["PATH"], **env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{base}/readyz", process, time.monotonic() + 30)
        old = web_workers(process.pid)
        _hit(f"{base}/healthz", 30)
        for pid in old:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while (
            web_workers(process.pid) & old or len(web_workers(process.pid)) < 2
        ) and time.monotonic() < deadline:
            time.sleep(0.1)  # gunicorn replaces its workers; nothing to await but the process table
        assert not web_workers(process.pid) & old
        wait_until_ready(f"{base}/readyz", process, time.monotonic() + 30)
        _hit(f"{base}/healthz", 30)
        text = requests.get(f"{base}/metrics", timeout=5).text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    (count,) = re.findall(
        r'mysafe_bot_http_requests_total\{route="/healthz",status="200"\} (\S+)', text
    )
    assert float(count) == 60


# --- doctor ---------------------------------------------------------------------------------


def _doctor(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.ops.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], **env},
    )


def _worker_once(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "app.ops.cli", "worker", "--once"],
        timeout=60,
        check=True,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
    )


@pytest.mark.slow
def test_doctor_passes_when_everything_answers(slack_env: dict[str, str]) -> None:
    _worker_once(slack_env)
    result = _doctor(slack_env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["ok"] * 10
    assert any(line.startswith("ok   audit log") and "public key" in line for line in lines)
    assert any(line.startswith("ok   approvers") for line in lines)
    assert any(line.startswith("ok   worker") and "alive" in line for line in lines)
    assert lines[-1] == "all checks passed"


@pytest.mark.slow
def test_doctor_with_slack_unreachable_still_runs_every_check(slack_env: dict[str, str]) -> None:
    env = {**slack_env, "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/"}
    result = _doctor(env)
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    out = result.stdout
    assert "FAIL slack token" in out and "cannot reach it" in out
    assert "FAIL approval channel" in out and "ok   mysafe" in out and "ok   redis" in out
    assert "FAIL worker" in out and "mysafe-bot worker" in out


def test_doctor_says_when_the_bot_is_not_in_the_approvals_channel(
    slack_env: dict[str, str], slack: SlackFake
) -> None:
    slack.not_member.add("C0APPROVALS")
    out = _doctor(slack_env).stdout
    assert "FAIL approval channel" in out and "not a member" in out and "/invite" in out


def test_doctor_names_each_failure_with_a_fix(slack_env: dict[str, str], slack: SlackFake) -> None:
    slack.fail("auth.test", error="invalid_auth", times=3)
    env = {**slack_env, "MYSAFE_URL": f"http://127.0.0.1:{free_port()}"}
    result = _doctor(env)
    assert result.returncode == 1
    out = result.stdout
    assert "FAIL slack token" in out and "invalid_auth" in out and "SLACK_BOT_TOKEN" in out
    assert "FAIL mysafe" in out and "MYSAFE_URL" in out
    assert "ok   redis" in out and "ok   approval channel" in out


def test_doctor_names_every_approver_and_group_slack_does_not_know(
    slack_env: dict[str, str], slack: SlackFake
) -> None:
    """A typo in MYSAFE_BOT_APPROVERS would otherwise show only when nobody can approve."""
    slack.unknown |= {"UAPPROVER2", "S0GONE"}
    slack.profiles["UAPPROVER3"] = {"deleted": True}
    slack.usergroups["S0EMPTY"] = []
    env = {**slack_env, "MYSAFE_BOT_APPROVERS": "UAPPROVER1,UAPPROVER2,UAPPROVER3,S0GONE,S0EMPTY"}
    out = _doctor(env).stdout
    line = next(line for line in out.splitlines() if line.startswith("FAIL approvers"))
    for problem in (
        "UAPPROVER2: Slack said user_not_found",
        "UAPPROVER3 is deactivated",
        "S0GONE: Slack said no_such_subteam",
        "S0EMPTY has no members",
    ):
        assert problem in line
    assert "UAPPROVER1" not in line and "MYSAFE_BOT_APPROVERS" in out


def test_doctor_lists_the_jobs_set_aside_unrun(
    slack_env: dict[str, str], redis, key_prefix: str, bot: Bot
) -> None:
    """A command sealed with a key since removed: the consumer parks it, /metrics counts it,
    and doctor names it (kind, whose, why) with what to do."""
    before = _parked_total(bot.url)
    stale = JobQueue(redis, Keyring([generate_key()]), prefix=key_prefix)
    stale.put("command", {"user_id": "UALICE", "text": "help"}, who="UALICE")
    eventually(lambda: _parked_total(bot.url) > before, 10, "the job was not parked")
    _worker_once(slack_env)
    result = _doctor(slack_env)
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("FAIL parked jobs"))
    assert "1 job(s) set aside" in line and "command of UALICE" in line
    assert "no configured key opens it" in line and "rotate-keys" in result.stdout


def _parked_total(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=5).text
    found = re.findall(r"^mysafe_bot_jobs_parked_total (\S+)$", text, re.M)
    return float(found[0]) if found else 0.0


def test_doctor_names_a_rule_asking_more_approvals_than_its_group_has(
    slack_env: dict[str, str], slack: SlackFake, tmp_path
) -> None:
    """`policy check` counts only the user IDs a file lists; doctor asks Slack for the
    groups: 3 approvals of a 2-member group could never be given."""
    slack.usergroups["S0ONCALL"] = ["UONCALL1", "UONCALL2"]
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "rules:\n  - name: prod\n    match: {tags: [prod]}\n    approvals: 3\n"
        "    approvers: [S0ONCALL]\n"
    )
    out = _doctor({**slack_env, "MYSAFE_BOT_POLICY": str(policy)}).stdout
    line = next(line for line in out.splitlines() if line.startswith("FAIL approvers"))
    assert "rule “prod” needs 3 approvals but has 2 approver(s)" in line


def test_doctor_reports_a_bad_setting(slack_env: dict[str, str]) -> None:
    result = _doctor({k: v for k, v in slack_env.items() if k != "MYSAFE_BOT_APPROVERS"})
    assert result.returncode == 2 and "FAIL settings" in result.stdout  # as every command's
    assert "MYSAFE_BOT_APPROVERS" in result.stdout and "Traceback" not in result.stderr


def test_doctor_fix_lines_say_what_to_do_not_what_is_wrong_again() -> None:
    """The FAIL line names the problem; the fix under it says where the value comes from."""
    from app.ops.doctor import run_checks

    checks = list(run_checks({"SLACK_BOT_TOKEN": "xoxb-1", "MYSAFE_TIMEOUT": "soon"}))
    assert checks and not any(check.ok for check in checks)
    for check in checks:
        problem = check.detail.split(": ", 1)[1]
        assert problem not in check.fix, check.line()
        assert ".env" in check.fix, check.line()
    fixes = {check.detail.split(":")[0]: check.fix for check in checks}
    assert "mysafe-bot keygen" in fixes["MYSAFE_BOT_ENCRYPTION_KEY"]
    assert "Signing Secret" in fixes["SLACK_SIGNING_SECRET"]
    assert "Copy member ID" in fixes["MYSAFE_BOT_APPROVERS"]
    assert "docs/configuration.md" in fixes["MYSAFE_TIMEOUT"]


@pytest.mark.slow
def test_doctor_with_nothing_set_says_first_that_this_is_the_demo(tmp_path) -> None:
    """A newcomer beside `make run` who tries `doctor` (listed in --help) learns that the demo
    needs none of what fails below; the checks and their exit code are those of a real set-up."""
    result = subprocess.run(
        [sys.executable, "-m", "app.ops.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        cwd=tmp_path,  # no .env
    )
    first, *rest = result.stdout.splitlines()
    assert first.startswith("No Slack variable is set, so `make run` (serve) runs the demo")
    assert "docs/slack-app.md" in first
    assert any(line.startswith("FAIL settings") for line in rest) and result.returncode == 2
    stray = _doctor({"SLACK_BOT_TOKEN": "xoxb-1"}).stdout  # a real set-up, half done
    assert "demo" not in stray.splitlines()[0]


# --- Redis beyond one server ----------------------------------------------------------------


def test_sentinel_url(tmp_path, key_prefix: str) -> None:
    from tests.support.redis_cluster import RedisSentinel

    sentinel = RedisSentinel(tmp_path).start()
    try:
        client = connect(sentinel.url)
        client.set(f"{key_prefix}:probe", "through sentinel")
        assert client.get(f"{key_prefix}:probe") == "through sentinel"
        direct = connect(f"redis://127.0.0.1:{sentinel.master_port}/0")
        assert direct.get(f"{key_prefix}:probe") == "through sentinel"
    finally:
        sentinel.stop()


# --- graceful shutdown ----------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_lets_an_in_flight_request_finish(
    slack_env: dict[str, str], emulator: Emulator, link, tmp_path
) -> None:
    """A ticket arrives, MySafe is slow, SIGTERM lands meanwhile: the ticket still gets its 202."""
    import json
    import threading

    from app.webhooks.signing import signed_headers

    link("UPDUARTE", "pduarte")
    entry = emulator.add_password("pduarte", name="DB", username="u", password="pw-1")
    emulator.add_user("alices")
    emulator.inject(status=0, delay=2.0, method="GET", path_prefix="/api/mysafe/password")
    secret = "webhook-secret-0123456789abcdef"
    env = {**slack_env, "MYSAFE_BOT_WEBHOOK_SECRET": secret, "MYSAFE_TIMEOUT": "10"}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port), "--workers", "1"],
        env={"PATH": os.environ["PATH"], **env},
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    body = json.dumps(
        {
            "event_id": "grace-1",
            "ticket": {"key": "SEC-1"},
            "requester": {"slack_id": "UPDUARTE"},
            "action": "share",
            "entry": {"kind": "password", "id": entry},
            "users": [{"username": "alices"}],
        }
    ).encode()
    answer: dict = {}
    try:
        wait_until_ready(f"{base}/readyz", process, time.monotonic() + 30)
        sender = threading.Thread(
            target=lambda: answer.update(
                response=requests.post(
                    f"{base}/webhooks/ticketing",
                    data=body,
                    timeout=30,
                    headers={"Content-Type": "application/json", **signed_headers(secret, body)},
                )
            )
        )
        sender.start()
        deadline = time.monotonic() + 10
        while not emulator.calls_to("GET", "/api/mysafe/password") and time.monotonic() < deadline:
            time.sleep(0.02)  # until the request is inside the bot, waiting on MySafe
        process.send_signal(signal.SIGTERM)
        sender.join(timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert answer["response"].status_code == 202


def test_metrics_show_pending_requests_and_sweep_lag(bot: Bot, emulator: Emulator, link) -> None:
    from app.approvals.changes import Change, Verb
    from app.mysafe.models import Kind, UserShare

    link("UALICE", "alices")
    entry = emulator.add_password("alices", name="x", username="u", password="p")
    emulator.add_user("bobm")
    for _ in range(3):
        bot.engine.submit(
            Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("bobm"),)), requester="UALICE"
        )
    text = requests.get(f"{bot.url}/metrics", timeout=5).text
    assert re.search(r"^mysafe_bot_pending_requests 3\.0$", text, re.M)
    assert re.search(r"^mysafe_bot_worker_sweep_lag_seconds 0\.0$", text, re.M)


def test_a_rate_limited_command_does_nothing_after_its_refusal(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, link
) -> None:
    link("UALICE", "alices")
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="x", username="u", password="p")
    for _ in range(3):
        user.command("UALICE", "help")
    refused = user.command("UALICE", f"share password {entry} with user:carol")
    assert "Slow down" in refused.text
    user.command("UBOB", "whoami")  # another person's command, answered after the ack
    slack.wait_responses(1)
    assert bot.engine.queue() == [] and len(slack.responses) == 1


@pytest.mark.slow
def test_metrics_count_requests_under_serve_without_a_multiprocess_dir(
    slack_env: dict[str, str], tmp_path
) -> None:
    """`mysafe-bot serve` as the README runs it (no PROMETHEUS_MULTIPROC_DIR, the MCP server
    beside gunicorn): a signed command is counted, and /metrics says so whichever worker
    answers. Starting the MCP sibling used to import the metrics into the master first, and
    /metrics answered 200 with nothing."""
    import re

    from tests.support.slack_requests import SlackClient

    env = {k: v for k, v in slack_env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["MYSAFE_BOT_MCP_PORT"] = str(free_port())
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port), "--workers", "2"],
        env={"PATH": os.environ["PATH"], **env},
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{base}/readyz", process, time.monotonic() + 30)
        client = SlackClient(base, "test-signing-secret", "http://127.0.0.1:9/unused")
        assert client.command("UALICE", "help").status_code == 200
        text = requests.get(f"{base}/metrics", timeout=5).text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert text.strip(), "/metrics answered nothing"
    (count,) = re.findall(
        r'mysafe_bot_http_requests_total\{route="/slack/events",status="200"\} (\S+)', text
    )
    assert float(count) == 1
