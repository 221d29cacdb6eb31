"""The MCP front with the SDK's own client: over streamable HTTP against the running server, and
over stdio against `mysafe-bot mcp --stdio`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from app.accounts.mcp_tokens import McpTokens
from app.approvals.machine import State
from app.mcp.server import build_mcp
from app.sandbox.emulator import Emulator
from tests.support.processes import free_port
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient

SECRET_VALUE = "Very-Secret-Pa55word"


@pytest.fixture
def entry(bot: Bot, emulator: Emulator, link) -> int:
    link("UALICE", "alices")
    emulator.add_user("bobm")
    emulator.add_group("Ops", ["bobm"])
    return emulator.add_password(
        "alices",
        name="Staging DB",
        username="dbadmin",
        password=SECRET_VALUE,
        secret_key="JBSWY3DPEHPK3PXP",
        url="https://db.staging.example",
    )


@pytest.fixture
def token(bot: Bot, entry: int) -> str:
    return McpTokens(bot.services.redis, prefix=bot.services.settings.key_prefix).issue(
        "UALICE", ttl=3600
    )


@pytest.fixture
def mcp_url(bot: Bot) -> Iterator[str]:
    """The MCP server as `mysafe-bot mcp --http` runs it (uvicorn), on the bot's engine."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = build_mcp(bot.engine, public_url=url).streamable_http_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ready = threading.Event()

    def watch() -> None:
        while not server.started and thread.is_alive():
            thread.join(0.02)
        ready.set()

    threading.Thread(target=watch, daemon=True).start()
    assert ready.wait(15) and server.started
    yield f"{url}/mcp"
    server.should_exit = True
    thread.join(10)


def call(url: str, token: str | None, *steps: tuple[str, dict[str, Any]]) -> list[Any]:
    """Open a session with the SDK's client, run each (tool, arguments), return the results."""

    async def run() -> list[Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            httpx.AsyncClient(headers=headers, timeout=30) as http,
            streamable_http_client(url, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            results = []
            for name, arguments in steps:
                if name == "list_tools":
                    results.append(await session.list_tools())
                else:
                    results.append(await session.call_tool(name, arguments))
            return results

    return asyncio.run(run())


def structured(result: Any) -> dict[str, Any]:
    assert not result.isError, result.content
    return result.structuredContent


def text_of(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


# --- tools --------------------------------------------------------------------------------------


def test_tools_are_listed_and_say_changes_wait_for_a_human(mcp_url: str, token: str) -> None:
    (tools,) = call(mcp_url, token, ("list_tools", {}))
    names = {t.name for t in tools.tools}
    assert names == {
        "list_entries",
        "show_entry",
        "who_has_access",
        "propose_share",
        "propose_unshare",
        "propose_update",
        "propose_disable",
        "propose_enable",
        "request_status",
        "my_requests",
        "cancel_request",
    }
    for tool in tools.tools:
        if tool.name.startswith("propose_"):
            assert "human approver" in tool.description


def test_list_and_show_never_return_secret_values(mcp_url: str, token: str, entry: int) -> None:
    listed, shown = call(
        mcp_url,
        token,
        ("list_entries", {"kind": "password", "text": "staging"}),
        ("show_entry", {"kind": "password", "id": entry}),
    )
    assert [e["name"] for e in structured(listed)["entries"]] == ["Staging DB"]
    details = structured(shown)
    assert details["url"] == "https://db.staging.example" and details["password"] == "set"
    everything = json.dumps([structured(listed), details, text_of(listed), text_of(shown)])
    assert SECRET_VALUE not in everything and "JBSWY3DPEHPK3PXP" not in everything


def test_a_proposal_waits_for_a_click_in_slack(
    mcp_url: str,
    token: str,
    entry: int,
    bot: Bot,
    slack: SlackFake,
    emulator: Emulator,
    user: SlackClient,
) -> None:
    (proposed,) = call(
        mcp_url,
        token,
        (
            "propose_share",
            {"kind": "password", "id": entry, "users": ["bobm"], "reason": "new on-call"},
        ),
    )
    request = structured(proposed)
    assert request["state"] == "pending" and "nothing has changed" in request["note"]
    message = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == "C0APPROVALS"]
    )[0]
    assert "via an AI assistant (MCP)" in message.blocks_text()
    assert emulator.calls_to("PUT", "/api/mysafe/password/update") == []
    assert bot.engine.get(request["request_id"]).source == "mcp"

    user.click("UAPPROVER1", "approve", request["request_id"])
    slack.wait_for(lambda: [c for c in slack.calls_to("chat.update") if "Applied" in c.blocks_text()])
    (put,) = emulator.calls_to("PUT", "/api/mysafe/password/update")
    assert put.user == "alices"  # the proposing person's own key
    (status,) = call(mcp_url, token, ("request_status", {"request_id": request["request_id"]}))
    assert structured(status)["state"] == "applied"
    audit = [
        r for r in bot.engine.audit.read(request=request["request_id"]) if r.event == "request.created"
    ]
    assert audit[0].facts["channel"] == "mcp"


def test_unshare_update_my_requests_and_cancel(
    mcp_url: str, token: str, entry: int, bot: Bot, emulator: Emulator
) -> None:
    emulator.update_entry("password", entry, groups_allowed=[{"name": "Ops"}])  # to unshare
    unshare, update, mine = call(
        mcp_url,
        token,
        ("propose_unshare", {"kind": "password", "id": entry, "groups": ["Ops"]}),
        (
            "propose_update",
            {"kind": "password", "id": entry, "changes": {"notes": "rotated"}, "reason": "docs"},
        ),
        ("my_requests", {}),
    )
    ids = {structured(unshare)["request_id"], structured(update)["request_id"]}
    assert {r["request_id"] for r in structured(mine)["requests"]} == ids
    assert structured(update)["changes"] == [{"field": "notes", "before": "", "after": "rotated"}]
    (cancelled,) = call(
        mcp_url, token, ("cancel_request", {"request_id": structured(unshare)["request_id"]})
    )
    assert structured(cancelled)["state"] == "cancelled"
    assert bot.engine.get(structured(unshare)["request_id"]).state is State.CANCELLED


@pytest.mark.parametrize("field", ["password", "secret_key", "client_secret"])
def test_a_secret_field_in_propose_update_is_refused(
    mcp_url: str, token: str, entry: int, bot: Bot, field: str
) -> None:
    (result,) = call(
        mcp_url,
        token,
        ("propose_update", {"kind": "password", "id": entry, "changes": {field: "typed-secret-123"}}),
    )
    assert result.isError and "rotate" in text_of(result)
    assert "typed-secret-123" not in text_of(result)
    assert bot.engine.queue() == []


def test_bad_input_is_refused_by_the_schemas(mcp_url: str, token: str, entry: int) -> None:
    too_many, nobody = call(
        mcp_url,
        token,
        ("propose_share", {"kind": "password", "id": entry, "users": [f"u{i}" for i in range(60)]}),
        ("propose_share", {"kind": "password", "id": entry}),
    )
    assert too_many.isError and "users" in text_of(too_many)
    assert nobody.isError and "share with" in text_of(nobody)


def test_a_proposal_may_be_for_a_period(mcp_url: str, token: str, entry: int, bot: Bot) -> None:
    good, bad, long = call(
        mcp_url,
        token,
        ("propose_share", {"kind": "password", "id": entry, "users": ["bobm"], "duration": "1d12h"}),
        ("propose_share", {"kind": "password", "id": entry, "users": ["bobm"], "duration": "soon"}),
        ("propose_share", {"kind": "password", "id": entry, "users": ["bobm"], "duration": "40d"}),
    )
    assert structured(good)["duration_seconds"] == 36 * 3600
    assert bot.engine.get(structured(good)["request_id"]).change.duration == 36 * 3600
    assert bad.isError and "30m, 8h, 2d or 1d12h" in text_of(bad)
    assert long.isError and "30 days" in text_of(long)
    assert len(bot.engine.queue()) == 1


def test_someone_elses_request_is_not_shown(
    mcp_url: str, token: str, entry: int, bot: Bot, link
) -> None:
    from app.approvals.changes import Change, Verb
    from app.mysafe.models import Kind, UserShare

    link("UBOB", "bobm")
    other = bot.engine.submit(
        Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("alices"),)), requester="UALICE"
    )
    bobs_token = McpTokens(bot.services.redis, prefix=bot.services.settings.key_prefix).issue(
        "UBOB", ttl=3600
    )
    (result,) = call(mcp_url, bobs_token, ("request_status", {"request_id": other.id}))
    assert result.isError and "no such request among yours" in text_of(result)


# --- identity -----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["missing", "wrong", "revoked"])
def test_missing_wrong_or_revoked_token_is_refused(
    mcp_url: str, token: str, bot: Bot, which: str
) -> None:
    if which == "revoked":
        McpTokens(bot.services.redis, prefix=bot.services.settings.key_prefix).revoke("UALICE")
    used = {"missing": None, "wrong": "msb_not-a-real-token", "revoked": token}[which]
    with pytest.raises(BaseException) as caught:  # the SDK surfaces the 401 as an error group
        call(mcp_url, used, ("list_tools", {}))
    assert "401" in repr(caught.value) or "Unauthorized" in repr(caught.value)


def test_mcp_token_command_shows_the_token_once_and_revokes(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int, redis, key_prefix: str
) -> None:
    user.command("UALICE", "mcp-token")
    reply = slack.wait_responses(1)[0]
    assert reply["response_type"] == "ephemeral"
    issued = reply["text"].split("`")[1]
    assert issued.startswith("msb_")
    tokens = McpTokens(bot.services.redis, prefix=bot.services.settings.key_prefix)
    assert tokens.user_for(issued) == "UALICE"
    stored = "".join(
        str(redis.get(k)) + k
        for k in redis.scan_iter(match=f"{key_prefix}:*")
        if redis.type(k) == "string"
    )
    assert issued not in stored  # only its hash
    user.command("UALICE", "mcp-token revoke")
    slack.wait_responses(2)
    assert tokens.user_for(issued) is None


def test_an_mcp_token_ends_after_its_lifetime_shown_when_issued(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int, redis, key_prefix: str, mcp_url: str
) -> None:
    user.command("UALICE", "mcp-token")
    reply = slack.wait_responses(1)[0]["text"]
    issued = reply.split("`")[1]
    assert "It works for 90 days, until <!date^" in reply
    keys = [k for k in redis.scan_iter(match=f"{key_prefix}:{{mcp}}:*")]
    assert keys and all(89 * 86400 < redis.ttl(k) <= 90 * 86400 for k in keys)
    redis.delete(*keys)  # ninety days later, Redis has dropped them
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises its own HTTP error on a 401
        call(mcp_url, issued, ("my_requests", {}))


def test_logout_revokes_the_mcp_token(
    bot: Bot, user: SlackClient, slack: SlackFake, token: str, mcp_url: str
) -> None:
    (before,) = call(mcp_url, token, ("my_requests", {}))
    assert not before.isError
    user.command("UALICE", "logout")
    slack.wait_responses(1)
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises its own HTTP error on a 401
        call(mcp_url, token, ("my_requests", {}))


def test_security_acts_are_in_the_audit_trail(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int, redis, key_prefix: str
) -> None:
    user.command("UALICE", f"show password {entry}")
    user.command("UALICE", "mcp-token")
    slack.wait_responses(2)
    user.command("UALICE", "mcp-token revoke")
    user.command("UALICE", "logout")
    slack.wait_responses(4)
    events = [(r.event, r.actor) for r in bot.engine.audit.read()]
    for event in ("entry.shown", "mcp_token.issued", "mcp_token.revoked", "account.unlinked"):
        assert (event, "UALICE") in events
    trail = json.dumps([r.facts for r in bot.engine.audit.read()])
    assert SECRET_VALUE not in trail and "msb_" not in trail


# --- stdio --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_stdio_with_the_sdk_client(slack_env: dict[str, str], token: str, entry: int, bot: Bot) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "app.ops.cli", "mcp", "--stdio"],
        env={"PATH": os.environ["PATH"], **slack_env, "MYSAFE_BOT_MCP_TOKEN": token},
    )

    async def run() -> tuple[Any, Any]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            proposed = await session.call_tool(
                "propose_share", {"kind": "password", "id": entry, "groups": ["Ops"]}
            )
            return tools, proposed

    tools, proposed = asyncio.run(run())
    assert (
        len(tools.tools) == 11
    )  # as over HTTP (test_tools_are_listed_and_say_changes_wait_for_a_human)
    request_id = structured(proposed)["request_id"]
    assert bot.engine.get(request_id).state is State.PENDING
    assert bot.engine.get(request_id).requester == "UALICE"


@pytest.mark.slow
def test_a_running_stdio_session_stops_when_its_token_is_revoked(
    slack_env: dict[str, str], token: str, entry: int, bot: Bot
) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "app.ops.cli", "mcp", "--stdio"],
        env={"PATH": os.environ["PATH"], **slack_env, "MYSAFE_BOT_MCP_TOKEN": token},
    )
    tokens = McpTokens(bot.services.redis, prefix=bot.services.settings.key_prefix)

    async def run() -> tuple[Any, Any]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            before = await session.call_tool("my_requests", {})
            tokens.revoke("UALICE")
            after = await session.call_tool("my_requests", {})
            return before, after

    before, after = asyncio.run(run())
    assert not before.isError
    assert after.isError and "no longer valid" in text_of(after)


def test_request_ids_answer_alike_and_inputs_are_bounded(
    bot: Bot, token: str, entry: int, mcp_url: str
) -> None:
    """Someone else's request, an unknown id and 100 kB of junk all get the same short answer,
    which echoes nothing back."""
    from app.approvals.changes import Change, Verb
    from app.mysafe.models import Kind, UserShare

    bot.services.vault.map_mention("UBOB", "bobm")
    others = bot.engine.submit(
        Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("bobm"),)), requester="UALICE"
    )
    bobs = McpTokens(bot.services.redis, prefix=bot.services.settings.key_prefix).issue(
        "UBOB", ttl=3600
    )
    junk = "R-" + "X" * 100_000
    answers = call(
        mcp_url,
        bobs,
        ("request_status", {"request_id": others.id}),
        ("request_status", {"request_id": "R-22222"}),
        ("request_status", {"request_id": junk}),
        ("cancel_request", {"request_id": others.id}),
        ("cancel_request", {"request_id": junk}),
    )
    texts = {text_of(a).split(": ", 1)[-1] for a in answers}  # after "Error executing tool X"
    assert all(a.isError for a in answers) and len(texts) == 1
    assert len(texts.pop()) < 200
    assert bot.engine.get(others.id).state is State.PENDING


@pytest.mark.slow
def test_serve_starts_the_mcp_server_beside_the_web_app(env: dict[str, str], tmp_path) -> None:
    """`mysafe-bot serve` runs the MCP sibling on MYSAFE_BOT_MCP_PORT and stops it with itself."""
    import signal
    import subprocess
    import time

    import requests

    from tests.support.processes import wait_until_ready

    port, mcp_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port), "--workers", "1"],
        env={"PATH": os.environ["PATH"], **env, "MYSAFE_BOT_MCP_PORT": str(mcp_port)},
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process, time.monotonic() + 30)
        refused = wait_until_ready(f"http://127.0.0.1:{mcp_port}/mcp", process, time.monotonic() + 30)
        assert refused.status_code == 401  # there, and nothing without a token
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{mcp_port}/mcp", timeout=2)


@pytest.mark.slow
def test_serve_restarts_an_mcp_server_that_died_and_readyz_says_so(
    env: dict[str, str], tmp_path
) -> None:
    """The MCP port is taken when serve starts, so its sibling dies at once: /readyz is 503
    naming it (not 200 as before); once the port is free the supervisor's restart takes it."""
    import signal
    import socket
    import subprocess
    import time

    import requests

    from tests.support.processes import wait_until_ready

    port, mcp_port = free_port(), free_port()
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", mcp_port))
    squatter.listen()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port), "--workers", "1"],
        env={"PATH": os.environ["PATH"], **env, "MYSAFE_BOT_MCP_PORT": str(mcp_port)},
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        ready = f"http://127.0.0.1:{port}/readyz"
        wait_until_ready(ready, process, time.monotonic() + 30)
        squatter.close()  # the squatter accepted nothing: now nothing answers there at all
        answer = requests.get(ready, timeout=5)
        assert answer.status_code == 503 and "mcp" in answer.json()["reason"]
        deadline = time.monotonic() + 30
        while requests.get(ready, timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the MCP server was never restarted"
            time.sleep(0.2)  # the supervisor's backoff: nothing to await from outside
        refused = requests.get(f"http://127.0.0.1:{mcp_port}/mcp", timeout=5)
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0


def test_mcp_token_says_where_the_server_is_and_how_to_add_it(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply names the server's URL and gives the settings block to paste, with the token."""
    import dataclasses
    import json as json_module

    from tests.support.slack_reading import visible

    monkeypatch.setattr(
        bot.services,
        "settings",
        dataclasses.replace(
            bot.services.settings, mcp_port=3001, mcp_public_url="https://bot.example.com/"
        ),
    )
    user.command("UALICE", "mcp-token")
    reply = visible(slack.wait_responses(1)[0]["text"])
    issued = reply.split("`")[1]
    url = "https://bot.example.com/mcp"
    assert f"MCP server: `{url}`" in reply
    config = json_module.loads(reply.split("`")[-4])
    assert config == {
        "mcpServers": {
            "mysafe": {"type": "http", "url": url, "headers": {"Authorization": f"Bearer {issued}"}}
        }
    }


def test_mcp_token_without_an_mcp_server_says_so(
    bot: Bot, user: SlackClient, slack: SlackFake, entry: int
) -> None:
    assert bot.services.settings.mcp_port == 0
    user.command("UALICE", "mcp-token")
    reply = slack.wait_responses(1)[0]["text"]
    assert "runs no MCP server" in reply and "`mysafe-bot mcp --stdio`" in reply
