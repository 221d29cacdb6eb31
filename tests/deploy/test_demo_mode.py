"""`make run` with nothing set: the demo, driven over the console's own HTTP routes.

The browser test (tests/deploy/test_demo_browser.py) clicks the same flow in Chromium; these run
wherever Python does, and cover what a browser does not show: a restart keeps everything, the
demo never binds off loopback, the Web API stand-in wants the bot's token.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.processes import free_port as _free_port
from tests.support.processes import kill_embedded_redis as _kill_embedded_redis
from tests.support.processes import wait_until_ready as _wait_until_ready
from tests.support.waiting import eventually

PRIYA, CAROL = "U0DEMOPRIYA", "U0DEMOCAROL"
CHANNEL = "C0DEMOAPPROVALS"


def _environment(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "MYSAFE_BOT_DATA_DIR": str(tmp_path / "data"),
        "MYSAFE_BOT_MCP_PORT": "0",
    }


@contextmanager
def demo(tmp_path: Path, port: int, **env: str) -> Iterator[str]:
    """`mysafe-bot serve` with no setting but the data dir (and `env`), from a folder without
    `.env`; its log is `serve-PORT.log` there."""
    with (tmp_path / f"serve-{port}.log").open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port), "--workers", "2"],
            env=_environment(tmp_path) | env,
            stderr=log,
            cwd=tmp_path,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            assert _wait_until_ready(f"{url}/readyz", process, time.monotonic() + 60).status_code == 200
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0


def act(url: str, what: str, **body: Any) -> dict[str, Any]:
    answer = requests.post(f"{url}/demo/{what}", json=body, timeout=20)
    assert answer.status_code == 200, answer.text
    return answer.json()


def channel_shows(url: str, who: str, found: Callable[[list[dict[str, Any]]], Any]) -> Any:
    """Poll the console's state (as the page does) until `found` returns something."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        messages = requests.get(f"{url}/demo/state", params={"as": who}, timeout=10).json()["channel"][
            "messages"
        ]
        value = found(messages)
        if value:
            return value
        time.sleep(0.1)  # the page polls the same way; there is nothing to await
    pytest.fail(f"the channel never showed it: {json.dumps(messages)[:2000]}")


def approve_button(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    for message in messages:
        for block in message["blocks"]:
            for element in block.get("elements", []):
                if element.get("action_id") == "approve":
                    return {
                        "ts": message["ts"],
                        "value": element["value"],
                        "block_id": block.get("block_id", ""),
                    }
    return None


def test_a_pending_request_survives_a_restart_and_is_applied_after_it(tmp_path: Path) -> None:
    """The demo's keys, encryption key, Redis and sandbox entries are the same after a restart:
    a request made before it is approved and applied after it."""
    port = _free_port()
    with demo(tmp_path, port) as url:
        act(
            url,
            "command",
            **{
                "as": PRIYA,
                "conversation": CHANNEL,
                "text": '/mysafe share password 1 with @alice reason "demo"',
            },
        )
        pending = channel_shows(url, CAROL, approve_button)
    kept = (tmp_path / "data" / "demo.json").read_text()

    with demo(tmp_path, port) as url:
        act(
            url,
            "click",
            **{
                "as": CAROL,
                "where": "message",
                "conversation": CHANNEL,
                "action_id": "approve",
                **pending,
            },
        )
        channel_shows(
            url, CAROL, lambda messages: any("Applied" in json.dumps(m["blocks"]) for m in messages)
        )
    assert (tmp_path / "data" / "demo.json").read_text() == kept
    assert oct((tmp_path / "data" / "demo.json").stat().st_mode & 0o777) == "0o600"
    # One log format for everything the demo runs: the bot, gunicorn, the sandbox, the worker.
    log = (tmp_path / f"serve-{port}.log").read_text()
    assert [line for line in log.splitlines() if line.startswith("{")] == []
    for said in ("Booting worker", "serving", "worker started"):  # gunicorn, serve, the worker
        assert said in log


#: A line of the text log format (app.foundations.logs.TextFormatter), the demo's.
TEXT_LINE = re.compile(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S")


@pytest.mark.slow
def test_the_demo_logs_readable_text_and_no_warning_at_start(tmp_path: Path) -> None:
    """A person reads the demo's log in their terminal: text lines, not JSON, and no warning
    they could not act on (Bolt's "`token` will be unused", one per process, at every start)."""
    port = _free_port()
    log = tmp_path / f"serve-{port}.log"
    with demo(tmp_path, port):
        eventually(lambda: log.read_text().count("worker started") == 2, 30, "both job workers up")
        lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines and [line for line in lines if not TEXT_LINE.match(line)] == []
    assert [line for line in lines if re.search(r" (WARNING|ERROR|CRITICAL) ", line)] == []
    # gunicorn's management socket is not opened (one per user: every serve took it over).
    assert [line for line in lines if "control socket" in line.lower()] == []


def test_the_demo_refuses_to_listen_off_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.ops.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(_free_port()),
        ],
        env=_environment(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--host" in result.stderr and "loopback" in result.stderr


def test_the_demo_set_by_hand_refuses_to_listen_off_loopback_too(tmp_path: Path) -> None:
    """Every demo variable set in the environment (a copied `.env`): the console would be
    served to the network, so the bind is refused just the same."""
    from app.foundations.crypto import generate_key

    port = _free_port()
    demo_url = f"http://127.0.0.1:{port}"
    env = _environment(tmp_path) | {
        "MYSAFE_BOT_DEMO": demo_url,
        "SLACK_API_URL": f"{demo_url}/demo/api/",
        "SLACK_BOT_TOKEN": "xoxb-fake",
        "SLACK_SIGNING_SECRET": "s" * 32,
        "MYSAFE_BOT_APPROVAL_CHANNEL": CHANNEL,
        "MYSAFE_BOT_APPROVERS": "S0DEMOAPPROVERS",
        "MYSAFE_URL": f"http://127.0.0.1:{_free_port()}",
        "MYSAFE_BOT_ENCRYPTION_KEY": generate_key(),
    }
    result = subprocess.run(
        [sys.executable, "-m", "app.ops.cli", "serve", "--host", "0.0.0.0", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--host" in result.stderr and "loopback" in result.stderr


def _serve(tmp_path: Path, port: int, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port)],
        env=_environment(tmp_path) | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_a_second_make_run_says_the_port_is_taken_before_starting_anything(tmp_path: Path) -> None:
    """Another process on the port (a demo already running): one line that says so, no banner,
    no Redis started under the data dir, nothing joined."""
    with socket.socket() as first:
        first.bind(("127.0.0.1", 0))
        first.listen()
        port = first.getsockname()[1]
        result = _serve(tmp_path, port)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"mysafe-bot: port {port} is in use: is the demo already running? Stop it (Ctrl-C where "
        "it runs), or choose another port with --port or PORT."
    )
    assert result.stdout == "" and not (tmp_path / "data").exists()


@pytest.mark.slow
def test_the_demo_runs_without_its_mcp_server_when_that_port_is_taken_and_says_so(
    tmp_path: Path,
) -> None:
    """Its port (3001 unless set) held by another demo, or any program: one warning naming the
    setting, not an MCP server dying and restarted, an error line each time, for as long as the
    demo runs."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        port = _free_port()
        with demo(tmp_path, port, MYSAFE_BOT_MCP_PORT=str(taken)) as url:
            assert requests.get(f"{url}/readyz", timeout=10).status_code == 200
        log = (tmp_path / f"serve-{port}.log").read_text()
    warned = [line for line in log.splitlines() if "WARNING" in line]
    assert warned == [line for line in warned if "mcp.skipped" in line] and len(warned) == 1
    assert f"port {taken} is in use: the demo runs without its MCP server" in warned[0]
    assert "MYSAFE_BOT_MCP_PORT" in warned[0]
    assert "ERROR" not in log and "mcp exited" not in log


@pytest.mark.slow
def test_a_second_demo_from_the_same_folder_refuses_and_leaves_the_first_alone(
    tmp_path: Path,
) -> None:
    """Following "choose another port" from the same folder: the second would share the first
    one's Redis (its workers answering the first console's commands in its own). It says the
    demo runs already, before the banner, and the first one carries on."""
    with demo(tmp_path, _free_port()) as url:
        result = _serve(tmp_path, _free_port())
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip().endswith(
            f"mysafe-bot: the demo is already running from this folder ({tmp_path / 'data'} is "
            "in use): open the console it printed, or stop it (Ctrl-C where it runs) first."
        )
        assert result.stdout == ""
        act(url, "command", **{"as": PRIYA, "conversation": CHANNEL, "text": "list passwords"})
        channel_shows(url, PRIYA, lambda messages: any("GCP console" in m["text"] for m in messages))


@pytest.mark.slow
def test_a_stray_slack_variable_says_which_one_left_the_demo_and_how_to_get_it_back(
    tmp_path: Path,
) -> None:
    result = _serve(tmp_path, _free_port(), SLACK_BOT_TOKEN="xoxb-1-stale")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    first, *rest = result.stderr.splitlines()
    assert first.startswith("mysafe-bot: configuration error: SLACK_BOT_TOKEN: is set")
    assert "not the demo" in first and "`unset SLACK_BOT_TOKEN`" in first
    assert any("MYSAFE_BOT_APPROVERS" in line for line in rest)


def test_the_slack_stand_in_wants_the_bot_token_and_knows_its_methods(tmp_path: Path) -> None:
    with demo(tmp_path, _free_port()) as url:
        token = json.loads((tmp_path / "data" / "demo.json").read_text())["bot_token"]
        api = f"{url}/demo/api/"
        message = {"channel": CHANNEL, "text": "hi"}
        assert requests.post(api + "chat.postMessage", json=message, timeout=10).json() == {
            "ok": False,
            "error": "invalid_auth",
        }
        auth = {"Authorization": f"Bearer {token}"}
        assert requests.post(api + "chat.postMessage", json=message, headers=auth, timeout=10).json()[
            "ok"
        ]
        assert requests.post(api + "admin.users.remove", json={}, headers=auth, timeout=10).json() == {
            "ok": False,
            "error": "unknown_method",
        }
        # The page's own actions are JSON only: a cross-site form cannot drive the demo.
        assert (
            requests.post(
                f"{url}/demo/command", data={"as": PRIYA, "text": "help"}, timeout=10
            ).status_code
            == 415
        )


#: How long Ctrl-C may take to stop `make run`, everything it started included.
STOP_BOUND = 3.0


@pytest.mark.slow
def test_ctrl_c_stops_the_demo_quickly_and_quietly_and_restarts_nothing(tmp_path: Path) -> None:
    """Ctrl-C in the terminal (SIGINT to the whole foreground process group) with the console
    open in a browser: a kept-alive connection, and one opened ahead of time with nothing sent
    on it yet, as a browser does. Every process is gone within the bound, no error is logged and
    nothing the supervisor runs is started again on the way out."""
    port = _free_port()
    log = tmp_path / "serve.log"
    env = _environment(tmp_path) | {"MYSAFE_BOT_MCP_PORT": str(_free_port()), "LOG_FORMAT": "json"}
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stderr=stderr,
            cwd=tmp_path,
            start_new_session=True,  # its own terminal job, as `make run` is
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(f"{url}/readyz", process, time.monotonic() + 60)
        eventually(lambda: requests.get(f"{url}/readyz", timeout=5).ok, 30, "ready, MCP included")
        eventually(lambda: log.read_text().count('"worker.start"') == 2, 30, "both job workers up")
        with requests.Session() as console, socket.create_connection(("127.0.0.1", port)):
            assert console.get(f"{url}/demo/state", params={"as": PRIYA}, timeout=10).ok
            stopped = time.monotonic()
            os.killpg(process.pid, signal.SIGINT)
            code = process.wait(timeout=STOP_BOUND)
            took = time.monotonic() - stopped
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_BOUND} s after Ctrl-C:\n{log.read_text()[-3000:]}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            _kill_embedded_redis(tmp_path / "data")
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert code == 0 and took <= STOP_BOUND
    assert [line["msg"] for line in lines if line["level"] in ("error", "critical")] == []
    signalled = next(n for n, line in enumerate(lines) if line["msg"] == "Handling signal: int")
    started_again = {"mcp.http", "worker.start", "demo.start", "serve.start"}
    assert [line["msg"] for line in lines[signalled:] if line.get("event") in started_again] == []


NINA = "U0DEMONINA"


def seen(url: str, who: str) -> dict[str, Any]:
    return requests.get(f"{url}/demo/state", params={"as": who}, timeout=10).json()


def dm_says(url: str, who: str, words: str) -> list[str]:
    """The texts of `who`'s DM with the bot, once one of them says `words` (polled, as the
    page polls)."""

    def said() -> list[str]:
        texts = [m["text"] for m in seen(url, who)["dm"]["messages"]]
        return texts if any(words in t for t in texts) else []

    return eventually(said, 20, f"the DM saying {words!r}")


@pytest.mark.slow
def test_a_newcomer_links_the_key_the_console_shows_them_and_it_works(tmp_path: Path) -> None:
    """`/mysafe login` in the demo: Nina is not linked, the console shows her (and only her)
    her sandbox key, she pastes it into the login form, and the bot acts as her."""
    with demo(tmp_path, _free_port()) as url:
        key = seen(url, NINA)["key"]
        assert key["mysafe_username"] == "ninan" and key["client_id"] and key["client_secret"]
        assert seen(url, PRIYA)["key"] is None
        dm = "D0DEMONINA"
        act(url, "command", **{"as": NINA, "conversation": dm, "text": "/mysafe list passwords"})
        dm_says(url, NINA, "/mysafe login")  # not linked yet: told how to link

        act(url, "command", **{"as": NINA, "conversation": dm, "text": "/mysafe login"})
        eventually(lambda: seen(url, NINA)["modal"], 20, "the login form open")
        act(url, "submit", **{"as": NINA, "values": key})
        eventually(lambda: "Key linked" in json.dumps(seen(url, NINA)["modal"]), 20, "the key checked")
        act(url, "command", **{"as": NINA, "conversation": dm, "text": "/mysafe whoami"})
        assert any("*ninan*" in text for text in dm_says(url, NINA, "ninan"))
        act(url, "command", **{"as": NINA, "conversation": dm, "text": "/mysafe list passwords"})
        dm_says(url, NINA, "Team wiki")  # her own entry, read from MySafe with her key
