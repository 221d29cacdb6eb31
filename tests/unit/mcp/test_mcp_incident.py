"""`propose_disable` and `propose_enable` with the SDK's own client, under the sample policy:
a disable proposal is applied at once and says so; enabling waits for a click in Slack."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.approvals.machine import State
from app.sandbox.emulator import Emulator
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient
from tests.unit.mcp import test_mcp as _mcp

# The MCP tests' fixtures and helpers, shared: alices, her entry, her token, the HTTP server.
call, structured, text_of = _mcp.call, _mcp.structured, _mcp.text_of
entry, mcp_url, token = _mcp.entry, _mcp.mcp_url, _mcp.token

SAMPLE_POLICY = Path(__file__).parents[3] / "deploy" / "policy.example.yml"


@pytest.fixture
def slack_env(slack_env: dict[str, str]) -> dict[str, str]:
    # The sample's production rule asks for step-up, which needs the bot's public URL.
    return {
        **slack_env,
        "MYSAFE_BOT_POLICY": str(SAMPLE_POLICY),
        "MYSAFE_BOT_PUBLIC_URL": "https://mysafe-bot.example.com",
    }


def test_a_disable_proposal_is_applied_at_once_and_says_so(
    mcp_url: str, token: str, entry: int, bot: Bot, slack: SlackFake, emulator: Emulator
) -> None:
    (proposed, shown) = call(
        mcp_url,
        token,
        ("propose_disable", {"kind": "password", "id": entry, "reason": "leaked in a public repo"}),
        ("show_entry", {"kind": "password", "id": entry}),
    )
    request = structured(proposed)
    assert request["state"] == "applied" and request["verb"] == "disable"
    assert "Applied at once" in request["note"] and "nothing has changed" not in request["note"]
    assert emulator.get_password(entry)["active"] is False
    assert structured(shown) == {"kind": "password", "id": entry, "state": "disabled"}
    (disabling,) = emulator.calls_to("POST", "/api/mysafe/password/inactive")
    assert disabling.user == "alices"  # the proposing person's own key
    assert bot.engine.get(request["request_id"]).source == "mcp"
    slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == "C0APPROVALS"]
    )


def test_an_enable_proposal_waits_for_a_click(
    mcp_url: str,
    token: str,
    entry: int,
    bot: Bot,
    slack: SlackFake,
    emulator: Emulator,
    user: SlackClient,
) -> None:
    emulator.set_active("password", entry, False)
    (proposed,) = call(
        mcp_url, token, ("propose_enable", {"kind": "password", "id": entry, "reason": "rotated"})
    )
    request = structured(proposed)
    assert request["state"] == "pending" and "nothing has changed" in request["note"]
    assert request["changes"] == [{"field": "state", "before": "disabled", "after": "enabled"}]
    assert emulator.get_password(entry)["active"] is False
    user.click("UAPPROVER1", "approve", request["request_id"])
    slack.wait_for(lambda: [c for c in slack.calls_to("chat.update") if "Applied" in c.blocks_text()])
    assert emulator.get_password(entry)["active"] is True
    assert bot.engine.get(request["request_id"]).state is State.APPLIED


def test_a_proposal_mysafe_refuses_is_told_in_the_bots_words(
    mcp_url: str, token: str, entry: int, bot: Bot, emulator: Emulator
) -> None:
    emulator.set_active("password", entry, False)
    (refused,) = call(
        mcp_url,
        token,
        ("propose_update", {"kind": "password", "id": entry, "changes": {"notes": "x"}}),
    )
    assert refused.isError
    assert "disabled in MySafe" in text_of(refused) and "(MySafe code 1009)" in text_of(refused)
    assert bot.engine.queue() == []


def test_the_list_tool_shows_an_entry_disabled_through_the_bot(
    mcp_url: str, token: str, entry: int
) -> None:
    (_, listed) = call(
        mcp_url,
        token,
        ("propose_disable", {"kind": "password", "id": entry, "reason": "leaked"}),
        ("list_entries", {"kind": "password"}),
    )
    (shown,) = structured(listed)["entries"]
    assert (shown["id"], shown["name"], shown["state"]) == (entry, "Staging DB", "disabled")


def test_break_glass_is_never_opened_from_an_ai_assistant(
    mcp_url: str, token: str, entry: int, bot: Bot, emulator: Emulator
) -> None:
    (result,) = call(
        mcp_url,
        token,
        (
            "propose_share",
            {
                "kind": "password",
                "id": entry,
                "users": ["bobm"],
                "duration": "1h",
                "reason": "INC-123 db down",
                "emergency": True,
            },
        ),
    )
    assert result.isError and "never opened by an AI assistant" in text_of(result)
    assert bot.engine.queue() == []
    assert emulator.calls_to("PUT", "/api/mysafe/password/update") == []
