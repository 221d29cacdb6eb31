"""`who_has_access` with the SDK's own client: the same answer as `/mysafe access`, as data."""

from __future__ import annotations

from app.approvals.machine import State
from app.sandbox.emulator import Emulator
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient
from tests.unit.mcp import test_mcp as _mcp

# The MCP tests' fixtures and helpers, shared: alices, her entry, her token, the HTTP server.
call, structured = _mcp.call, _mcp.structured
entry, mcp_url, token = _mcp.entry, _mcp.mcp_url, _mcp.token


def test_who_has_access_names_the_request_or_says_it_came_from_outside(
    mcp_url: str,
    token: str,
    entry: int,
    bot: Bot,
    slack: SlackFake,
    emulator: Emulator,
    user: SlackClient,
) -> None:
    emulator.update_entry("password", entry, groups_allowed=[{"name": "Ops"}])
    (proposed,) = call(
        mcp_url,
        token,
        ("propose_share", {"kind": "password", "id": entry, "users": ["bobm"], "can_edit": True}),
    )
    request_id = structured(proposed)["request_id"]
    user.click("UAPPROVER1", "approve", request_id)
    slack.wait_for(lambda: bot.engine.get(request_id).state is State.APPLIED)

    (answer,) = call(mcp_url, token, ("who_has_access", {"kind": "password", "id": entry}))
    found = structured(answer)
    assert found["entry_name"] == "Staging DB"
    bobm, ops = found["holders"]
    assert bobm["user"] == "bobm" and bobm["right"] == "edit"
    assert not bobm["given_outside_the_bot"]
    (through,) = bobm["through"]
    assert through["request_id"] == request_id and through["requester"] == "UALICE"
    assert through["requester_mysafe"] == "alices" and through["approvers"] == ["UAPPROVER1"]
    assert through["until"] is None and through["applied_at"].endswith("+00:00")
    assert ops == {"group": "Ops", "right": "view", "given_outside_the_bot": True, "through": []}
