"""Socket Mode end to end: a real websocket on loopback speaking Slack's envelope protocol.

The bot runs without a signing secret, so there is no `POST /slack/events` at all: every
command, click, form and event below reaches it as an envelope over the websocket, and every
answer goes out through the Slack Web API fake (or rides back on the envelope's ack).
`mysafe-bot serve` is run as the README runs it for the start-up cases.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.approvals.machine import State
from app.sandbox.emulator import Emulator
from app.slack.socket_mode import Backoff
from tests.support.paths import ROOT
from tests.support.processes import free_port
from tests.support.slack_fake import SlackCall, SlackFake
from tests.support.slack_harness import Bot, served_bot
from tests.support.slack_requests import text_input
from tests.support.socket_mode_fake import SocketModeFake

APP_TOKEN = "xapp-fake-socket-mode-token"
PUT = "/api/mysafe/password/update"
NEW_PASSWORD = "N3w-Socket-Value!"


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def socket_slack(slack: SlackFake) -> Iterator[SocketModeFake]:
    """Slack's websocket endpoint, handed out by the Web API fake's `apps.connections.open`."""
    fake = SocketModeFake().start()
    slack.socket_mode_url = fake.url
    yield fake
    fake.stop()


@pytest.fixture
def socket_env(slack_env: dict[str, str]) -> dict[str, str]:
    """Socket Mode only: an app-level token, and no signing secret (so no HTTP route)."""
    env = {k: v for k, v in slack_env.items() if k != "SLACK_SIGNING_SECRET"}
    return {**env, "SLACK_APP_TOKEN": APP_TOKEN}


@pytest.fixture
def socket_bot(socket_env: dict[str, str], socket_slack: SocketModeFake, redis) -> Iterator[Bot]:
    with served_bot(socket_env, redis) as bot:
        socket_mode = bot.runtime.front.socket_mode
        try:
            yield bot
        finally:
            socket_mode.close()  # before the fake stops, or the client would reconnect


@pytest.fixture
def vault_entry(socket_bot: Bot, emulator: Emulator, link) -> int:
    """A password alices owns, shared with bobm; carol exists and her mention is mapped."""
    link("UALICE", "alices")
    for name in ("bobm", "carol"):
        emulator.add_user(name)
    socket_bot.services.vault.map_mention("UCAROL", "carol")
    return emulator.add_password(
        "alices",
        name="GCP console",
        username="ops@example.com",
        password="old-Password-9",
        users_allowed=[{"username": "bobm"}],
    )


# --- helpers -------------------------------------------------------------------------------


def approval_posts(slack: SlackFake) -> list[SlackCall]:
    return [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == "C0APPROVALS"]


def request_id_of(call: SlackCall) -> str:
    return call.args["text"].split(":")[0]


def applied(slack: SlackFake) -> SlackCall:
    return slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.update") if "Applied" in c.blocks_text()]
    )[0]


def dm_to(slack: SlackFake, user: str, count: int = 1) -> SlackCall:
    return slack.wait_for(
        lambda: (
            len(found := [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == user])
            >= count
            and found
        )
    )[count - 1]


def home_opened(user: str) -> dict[str, str]:
    return {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"}


def published_for(slack: SlackFake) -> list[str]:
    return [c.args["user_id"] for c in slack.calls_to("views.publish")]


# --- flows over the websocket --------------------------------------------------------------


@pytest.mark.slow
def test_share_is_requested_approved_and_applied_over_socket_mode(
    socket_bot: Bot,
    socket_slack: SocketModeFake,
    slack: SlackFake,
    emulator: Emulator,
    vault_entry: int,
) -> None:
    assert requests.post(f"{socket_bot.url}/slack/events", timeout=5).status_code == 404
    command = socket_slack.command(
        "UALICE",
        f'share password {vault_entry} with <@UCAROL|carol> reason "on-call"',
        slack.response_url,
    )
    acked = socket_slack.wait_ack(command)  # acked at once, saying the work is under way
    assert acked["envelope_id"] == command
    assert acked["payload"]["text"].startswith("Working on /mysafe share password")
    message = slack.wait_for(lambda: approval_posts(slack))[0]
    request_id = request_id_of(message)
    assert "+ <@UCAROL> (view)" in message.blocks_text()
    assert request_id in slack.wait_responses(1)[0]["text"]  # told through response_url

    click = socket_slack.click("UAPPROVER1", "approve", request_id, slack.response_url)
    assert socket_slack.wait_ack(click) == {"envelope_id": click}
    assert "Password successfully updated" in applied(slack).blocks_text()
    (put,) = emulator.calls_to("PUT", PUT)
    assert put.user == "alices"
    assert put.json["users_allowed"] == [
        {"username": "bobm", "can_edit": False},
        {"username": "carol", "can_edit": False},
    ]
    assert socket_bot.engine.get(request_id).state is State.APPLIED
    (opened,) = slack.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN  # the app-level token opens the socket, not the bot's


@pytest.mark.slow
def test_rotate_form_is_checked_in_the_ack_then_applied_over_socket_mode(
    socket_bot: Bot,
    socket_slack: SocketModeFake,
    slack: SlackFake,
    emulator: Emulator,
    vault_entry: int,
) -> None:
    """A modal's submission is answered on the envelope's ack (`response_action: errors`
    shows next to the field); a good one is acknowledged empty and goes for approval."""
    socket_slack.wait_ack(
        socket_slack.command("UALICE", f"rotate password {vault_entry}", slack.response_url)
    )
    view = slack.wait_calls("views.open")[0].args["view"]
    assert view["callback_id"] == "rotate"

    empty = socket_slack.submit_view(
        "UALICE",
        "rotate",
        {"reason": {"reason": text_input("q")}},
        private_metadata=view["private_metadata"],
    )
    refused = socket_slack.wait_ack(empty)["payload"]
    assert refused["response_action"] == "errors" and set(refused["errors"]) == {"password"}

    good = socket_slack.submit_view(
        "UALICE",
        "rotate",
        {
            "password": {"password": text_input(NEW_PASSWORD)},
            "reason": {"reason": text_input("quarterly")},
        },
        private_metadata=view["private_metadata"],
    )
    assert socket_slack.wait_ack(good) == {"envelope_id": good}  # the modal simply closes
    waiting = dm_to(slack, "UALICE").args["text"]
    assert "waiting for approval" in waiting
    request_id = request_id_of(slack.wait_for(lambda: approval_posts(slack))[0])
    assert request_id in waiting

    socket_slack.wait_ack(socket_slack.click("UAPPROVER2", "approve", request_id, slack.response_url))
    applied(slack)
    assert emulator.get_password(vault_entry)["password"] == NEW_PASSWORD
    assert NEW_PASSWORD not in slack.everything_sent()
    assert NEW_PASSWORD not in json.dumps(socket_slack.acks)


@pytest.mark.slow
def test_app_home_is_published_on_a_first_delivery_and_a_retry_is_dropped(
    socket_bot: Bot, socket_slack: SocketModeFake, slack: SlackFake
) -> None:
    """Socket Mode marks every event with `retry_attempt`; 0 is the first delivery."""
    first = socket_slack.event(home_opened("UAPPROVER1"), retry_attempt=0)
    socket_slack.wait_ack(first)
    view = slack.wait_calls("views.publish")[0]
    assert view.args["user_id"] == "UAPPROVER1" and view.args["view"]["type"] == "home"

    retry = socket_slack.event(home_opened("UAPPROVER2"), retry_attempt=1)
    assert socket_slack.wait_ack(retry) == {"envelope_id": retry}  # acked, so Slack stops
    # A later first delivery is published; by then the retry's work would have begun.
    socket_slack.wait_ack(socket_slack.event(home_opened("UALICE")))
    slack.wait_for(lambda: "UALICE" in published_for(slack))
    assert published_for(slack) == ["UAPPROVER1", "UALICE"]


@pytest.mark.slow
def test_the_bot_reconnects_when_slack_asks_for_a_refresh(
    socket_bot: Bot, socket_slack: SocketModeFake, slack: SlackFake
) -> None:
    first = socket_slack.refresh("refresh_requested")
    second = socket_slack.wait_connected(count=2)
    socket_slack.wait_for(lambda: first.closed)  # the old socket is let go
    assert second.path != first.path  # a fresh URL from apps.connections.open
    assert [c.token for c in slack.calls_to("apps.connections.open")] == [APP_TOKEN] * 2

    help_ = socket_slack.command("UALICE", "help", slack.response_url)
    answer = socket_slack.wait_ack(help_)["payload"]["text"]  # answered on the new socket
    assert "/mysafe share" in answer
    assert requests.get(f"{socket_bot.url}/readyz", timeout=5).status_code == 200


# --- start-up: Slack refusing the token, or away ---------------------------------------------


def _serve(port: int) -> list[str]:
    """`mysafe-bot serve` as the README runs it (one gunicorn worker)."""
    return [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port), "--workers", "1"]


def _environment(env: dict[str, str]) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], **env}


def test_serve_stops_with_one_line_when_slack_refuses_the_app_token(
    socket_env: dict[str, str], slack: SlackFake, tmp_path: Path
) -> None:
    slack.fail("apps.connections.open", error="invalid_auth")
    result = subprocess.run(
        _serve(free_port()),
        capture_output=True,
        text=True,
        timeout=60,
        env=_environment(socket_env),
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("mysafe-bot: configuration error: SLACK_APP_TOKEN:")
    assert "invalid_auth" in line and "connections:write" in line
    assert "Traceback" not in result.stderr
    assert APP_TOKEN not in result.stderr + result.stdout
    assert len(slack.calls_to("apps.connections.open")) == 1  # checked once, before forking


def test_the_image_command_stops_with_one_line_when_slack_refuses_the_app_token(
    socket_env: dict[str, str], slack: SlackFake, tmp_path: Path
) -> None:
    """The container and the Procfile run gunicorn itself, not `serve`: same one line, exit 2."""
    slack.fail("apps.connections.open", error="invalid_auth")
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:app.ops.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{free_port()}",
        "app:create_app()",
    ]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env=_environment(socket_env), cwd=ROOT
    )
    assert result.returncode == 2, result.stderr[-2000:]
    refusals = [line for line in result.stderr.splitlines() if "configuration error" in line]
    assert len(refusals) == 1 and "SLACK_APP_TOKEN" in refusals[0]
    assert "Traceback" not in result.stderr and APP_TOKEN not in result.stderr


def _get_when_listening(url: str, process: subprocess.Popen, timeout: float = 30) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve exited"
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            time.sleep(0.1)  # polling a port that is not open yet: nothing to await instead
    pytest.fail("serve never listened")


@pytest.mark.slow
def test_serve_keeps_http_up_while_slack_is_away_then_connects(
    socket_env: dict[str, str], slack: SlackFake, socket_slack: SocketModeFake, tmp_path: Path
) -> None:
    slack.fail("apps.connections.open", error="internal_error", status=500, times=10_000)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "serve.log", "w") as log:
        process = subprocess.Popen(_serve(port), stderr=log, env=_environment(socket_env), cwd=tmp_path)
    try:
        slack.wait_calls("apps.connections.open", 2, timeout=30)  # serve's check, the worker's
        assert _get_when_listening(f"{base}/healthz", process).status_code == 200
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["reason"] == "Socket Mode is not yet connected"

        slack.failures.pop("apps.connections.open")  # Slack is back
        socket_slack.wait_connected(timeout=30)  # retried in the background, with backoff
        event = socket_slack.event(home_opened("UAPPROVER1"))
        socket_slack.wait_ack(event, timeout=30)
        assert requests.get(f"{base}/readyz", timeout=5).json() == {"status": "ready"}
        slack.wait_for(lambda: published_for(slack) == ["UAPPROVER1"])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    text = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in text and APP_TOKEN not in text


@pytest.mark.slow
def test_a_worker_whose_app_token_is_refused_keeps_serving_and_says_why(
    socket_env: dict[str, str], slack: SlackFake, redis
) -> None:
    """Under gunicorn without `serve` (the image's command), the check runs in each worker."""
    slack.fail("apps.connections.open", error="token_revoked")
    with served_bot(socket_env, redis) as bot:
        socket_mode = bot.runtime.front.socket_mode
        try:
            assert socket_mode.wait(timeout=30)  # refused for good: no more tries
            assert requests.get(f"{bot.url}/healthz", timeout=5).status_code == 200
            ready = requests.get(f"{bot.url}/readyz", timeout=5)
            assert ready.status_code == 503
            assert "SLACK_APP_TOKEN" in ready.json()["reason"]
            assert "token_revoked" in ready.json()["reason"]
            assert len(slack.calls_to("apps.connections.open")) == 1
        finally:
            socket_mode.close()


def test_backoff_doubles_up_to_its_cap() -> None:
    pinned = Backoff(base=1.0, cap=8.0, jitter=lambda: 1.0)
    assert [pinned.delay(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert Backoff(base=1.0, cap=8.0, jitter=lambda: 0.0).delay(2) == 2.0  # half, at least
