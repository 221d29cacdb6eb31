"""Every security act leaves a record in the verifiable log: the list an auditor is promised
(docs/audit.md, "What is recorded"), each act done the way people do it — a slash command or a
form through the bot over HTTP, an MCP tool call, SIGHUP's reload, the CLI — then looked up.

Acts are added here as they become audited; an act missing from the log fails its own case.
"""

from __future__ import annotations

import asyncio
import io
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.accounts.mcp_tokens import McpTokens
from app.approvals.changes import Change, Verb
from app.foundations.errors import BotError
from app.foundations.settings import Scope, Settings
from app.mcp.server import build_mcp
from app.mysafe.models import Kind, UserShare
from app.ops.cli import main
from app.ops.runtime import build_runtime
from app.sandbox.emulator import Emulator
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient

POLICY = textwrap.dedent("""
    rules:
      - name: default
        approvals: 1
""")


@dataclass
class Scene:
    """What an act needs: the bot as served, Slack's side of it, the vault and a place for files."""

    bot: Bot
    user: SlackClient
    slack: SlackFake
    emulator: Emulator
    entry: int
    env: dict[str, str]
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch

    def mcp(self, tool: str, **arguments: object) -> None:
        """Call an MCP tool as alices, in process, through the server's own tool table."""
        token = McpTokens(self.bot.services.redis, prefix=self.bot.services.settings.key_prefix).issue(
            "UALICE", ttl=3600
        )
        server = build_mcp(self.bot.engine, public_url="http://127.0.0.1:9", stdio_token=token)
        asyncio.run(server.call_tool(tool, arguments))

    def login(self, user_id: str, client_id: str, secret: str, username: str) -> None:
        values = {
            "client_id": {"value": {"type": "plain_text_input", "value": client_id}},
            "client_secret": {"value": {"type": "plain_text_input", "value": secret}},
            "mysafe_username": {"value": {"type": "plain_text_input", "value": username}},
        }
        self.user.submit_view(user_id, "login", values)
        self.slack.wait_calls("views.update")

    def cli(self, *argv: str, stdin: str = "") -> None:
        for name, value in self.env.items():
            self.monkeypatch.setenv(name, value)
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        assert main(list(argv)) == 0

    def policy_reload(self, text: str) -> None:
        """What SIGHUP runs in each process (`app.ops.reload.reload_all`, book by book), on a
        runtime whose policy comes from a file."""
        path = self.tmp_path / "policy.yml"
        path.write_text(POLICY)
        settings = Settings.from_env(
            {**self.env, "MYSAFE_BOT_POLICY": str(path)}, scope=Scope.SERVICE, dotenv=None
        )
        runtime = build_runtime(settings, redis=self.bot.services.redis, front=False)
        path.write_text(text)
        runtime.engine.policy.reload()


def show(s: Scene) -> None:
    s.user.command("UALICE", f"show password {s.entry}")
    s.slack.wait_responses(1)


def mcp_token_issued(s: Scene) -> None:
    s.user.command("UALICE", "mcp-token")
    s.slack.wait_responses(1)


def mcp_token_revoked(s: Scene) -> None:
    mcp_token_issued(s)
    s.user.command("UALICE", "mcp-token revoke")
    s.slack.wait_responses(2)


def mcp_show(s: Scene) -> None:
    s.mcp("show_entry", kind="password", id=s.entry)


def mcp_list(s: Scene) -> None:
    s.mcp("list_entries", kind="password")


def policy_reloaded(s: Scene) -> None:
    s.policy_reload(POLICY.replace("approvals: 1", "approvals: 2"))


def policy_refused(s: Scene) -> None:
    s.policy_reload(POLICY.replace("approvals: 1", "approvals: many"))


def login(s: Scene) -> None:
    client_id, secret = s.emulator.add_user("nina")
    s.login("UNINA", client_id, secret, "nina")


def login_refused(s: Scene) -> None:
    client_id, _ = s.emulator.add_user("nina")
    s.login("UNINA", client_id, "not-her-secret", "nina")


def logout(s: Scene) -> None:
    s.user.command("UALICE", "logout")
    s.slack.wait_responses(1)


def cli_link(s: Scene) -> None:
    client_id, secret = s.emulator.add_user("nina")
    s.cli("users", "link", "UNINA", "--client-id", client_id, "--mysafe-username", "nina", stdin=secret)


def cli_unlink(s: Scene) -> None:
    s.cli("users", "unlink", "UALICE")


def refused_request(s: Scene) -> None:
    """bobm asks to share an entry he cannot see: refused before anything is stored."""
    change = Change(Verb.SHARE, Kind.PASSWORD, s.entry, add_users=(UserShare("carol"),))
    with pytest.raises(BotError):
        s.bot.engine.submit(change, requester="UBOBM", reason="let me")


def refused_click(s: Scene) -> None:
    """alices approves her own request: refused, with why."""
    change = Change(Verb.SHARE, Kind.PASSWORD, s.entry, add_users=(UserShare("carol"),))
    request = s.bot.engine.submit(change, requester="UALICE", reason="on-call")
    with pytest.raises(BotError):
        s.bot.engine.approve(request.id, "UALICE")


#: (the act, the event it must leave, who the record names as its actor)
ACTS: dict[str, tuple[Callable[[Scene], None], str, str]] = {
    "show": (show, "entry.shown", "UALICE"),
    "mcp token issued": (mcp_token_issued, "mcp_token.issued", "UALICE"),
    "mcp token revoked": (mcp_token_revoked, "mcp_token.revoked", "UALICE"),
    "mcp show_entry": (mcp_show, "entry.shown", "UALICE"),
    "mcp list_entries": (mcp_list, "entries.listed", "UALICE"),
    "policy reloaded": (policy_reloaded, "policy.reload_applied", "bot"),
    "policy reload refused": (policy_refused, "policy.reload_refused", "bot"),
    "login": (login, "account.linked", "UNINA"),
    "login refused": (login_refused, "account.link_refused", "UNINA"),
    "logout": (logout, "account.unlinked", "UALICE"),
    "cli link": (cli_link, "account.linked", "cli"),
    "cli unlink": (cli_unlink, "account.unlinked", "cli"),
    "refused request": (refused_request, "request.refused", "UBOBM"),
    "refused click": (refused_click, "click.refused", "UALICE"),
}


@pytest.fixture
def scene(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    link,
    slack_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Scene:
    link("UALICE", "alices")
    link("UBOBM", "bobm")
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="Staging DB", username="db", password="Pa55-w0rd!")
    return Scene(bot, user, slack, emulator, entry, slack_env, tmp_path, monkeypatch)


@pytest.mark.parametrize("act", list(ACTS))
def test_every_security_act_leaves_an_audit_record(scene: Scene, act: str) -> None:
    do, event, actor = ACTS[act]
    do(scene)
    found = [(r.event, r.actor) for r in scene.bot.engine.audit.read()]
    assert (event, actor) in found, f"{act}: no {event} by {actor} in {found}"
    trail = " ".join(str(r.to_json()) for r in scene.bot.engine.audit.read())
    assert "Pa55-w0rd!" not in trail and "not-her-secret" not in trail


def test_a_refused_request_says_why_and_what_was_asked(scene: Scene) -> None:
    refused_request(scene)
    (record,) = [r for r in scene.bot.engine.audit.read() if r.event == "request.refused"]
    assert record.facts["verb"] == "share" and record.facts["entry"] == str(scene.entry)
    assert record.facts["why"] and record.facts["channel"] == "slack"


def test_an_mcp_read_names_its_source(scene: Scene) -> None:
    mcp_show(scene)
    (record,) = [r for r in scene.bot.engine.audit.read() if r.event == "entry.shown"]
    assert record.facts["source"] == "mcp" and record.facts["entry"] == str(scene.entry)
